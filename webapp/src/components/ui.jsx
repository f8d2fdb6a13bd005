// Shared pieces of every screen: the page frame, an error note, a loading line, rows of a section.
import { useEffect, useRef } from "react";
import { t } from "../i18n.js";

export function Screen({ title, children, subtitle }) {
  const heading = useRef(null);
  useEffect(() => {
    document.title = title ? `${title} · Telemed-Pet` : "Telemed-Pet";
  }, [title]);
  return (
    <main className="screen">
      {title && <h1 ref={heading} className="title">{title}</h1>}
      {subtitle && <p className="hint">{subtitle}</p>}
      {children}
    </main>
  );
}

export function errorText(error) {
  if (!error) return null;
  switch (error.code) {
    case "unauthorized": return t("webapp.err.unauthorized");
    case "not_registered": return t("webapp.err.not_registered");
    case "not_found": return t("webapp.err.not_found");
    case "network": return t("webapp.err.network");
    case "conflict": return t("webapp.err.conflict");
    case "gone": return t("webapp.err.gone");
    case "payments_unavailable": return t("webapp.err.payments_unavailable");
    default: return error.serverMessage || t("err.internal");
  }
}

export function ErrorNote({ error, onRetry }) {
  if (!error) return null;
  return (
    <div className="note note-error" role="alert">
      <p>{errorText(error)}</p>
      {onRetry && error.code === "network" && (
        <button type="button" className="btn btn-secondary" onClick={onRetry}>{t("webapp.retry")}</button>
      )}
    </div>
  );
}

export function Loading() {
  return <p className="hint loading" role="status" aria-live="polite">{t("webapp.loading")}</p>;
}

export function Section({ title, children, id }) {
  return (
    <section className="section" aria-labelledby={title ? `${id}-title` : undefined}>
      {title && <h2 id={`${id}-title`} className="section-title">{title}</h2>}
      <div className="section-body">{children}</div>
    </section>
  );
}
