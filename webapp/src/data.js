// Loading JSON for a screen: useApi(path) -> {data, error, loading, reload}. A response fetched at start-up
// (prefetch) is handed to the first screen that asks for it, so the first screen's call starts with the app.
import { useCallback, useEffect, useState } from "react";
import { get } from "./api.js";

const early = new Map();

export function prefetch(path) {
  if (!early.has(path)) {
    const promise = get(path);
    promise.catch(() => {});
    early.set(path, promise);
  }
  return early.get(path);
}

function take(path) {
  const promise = early.get(path);
  early.delete(path);
  return promise || get(path);
}

export function useApi(path) {
  const [state, setState] = useState({ data: null, error: null, loading: Boolean(path) });
  const [version, setVersion] = useState(0);
  useEffect(() => {
    if (!path) return undefined;
    let live = true;
    setState((s) => ({ ...s, loading: true, error: null }));
    take(path).then(
      (data) => live && setState({ data, error: null, loading: false }),
      (error) => live && setState({ data: null, error, loading: false }),
    );
    return () => {
      live = false;
    };
  }, [path, version]);
  const reload = useCallback(() => setVersion((v) => v + 1), []);
  return { ...state, reload };
}
