// The Mini App API (shared/miniapp/API.md): every call carries Telegram's initData; errors are ApiError.
import { webApp } from "./tg.js";

export class ApiError extends Error {
  constructor(status, body) {
    super((body && body.message) || (body && body.error) || `HTTP ${status}`);
    this.status = status;
    this.code = (body && body.error) || "http";
    this.field = (body && body.field) || null;
    this.serverMessage = (body && body.message) || null;
  }
}

// `raw`: a body sent as it is (a file, with its own type); `blob`: the answer read as a file.
export async function api(method, path, body, { raw = false, blob = false } = {}) {
  const headers = { Authorization: `tma ${webApp()?.initData || ""}` };
  const init = { method, headers, cache: "no-store" };
  if (body !== undefined) {
    headers["Content-Type"] = raw ? (body.type || "application/octet-stream") : "application/json";
    init.body = raw ? body : JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch (err) {
    throw new ApiError(0, { error: "network" });
  }
  if (blob && response.ok) return response.blob();
  const text = await response.text();
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch (err) {
      data = null;
    }
  }
  if (!response.ok) throw new ApiError(response.status, data);
  return data;
}

export const get = (path) => api("GET", path);
export const post = (path, body) => api("POST", path, body === undefined ? {} : body);
export const patch = (path, body) => api("PATCH", path, body);
export const put = (path, body) => api("PUT", path, body);
export const del = (path) => api("DELETE", path);
export const upload = (path, file) => api("POST", path, file, { raw: true });
export const download = (path) => api("GET", path, undefined, { blob: true });
