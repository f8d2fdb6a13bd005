// Form fields with their label, hint and the error under them (the server's 400 names the field).
import { useCallback, useRef, useState } from "react";
import { haptic } from "../tg.js";
import { errorText } from "./ui.jsx";

// A form's field errors and its inputs (`refs.current[name]`); refuse() shows one under its field and
// focuses it, as a 400 from the server or a check here names it.
export function useFieldErrors() {
  const [errors, setErrors] = useState({});
  const refs = useRef({});
  const refuse = useCallback((field, text) => {
    setErrors({ [field]: text });
    haptic.error();
    const el = refs.current[field];
    if (el) el.focus();
  }, []);
  const clear = useCallback((field) => setErrors((e) => ({ ...e, [field]: null })), []);
  return { errors, setErrors, refs, refuse, clear };
}

// One submission at a time: `busy` while send() runs (its answer returned, haptic success); a 400 naming a
// field refused under it (`fieldOf` maps the server's name to the form's), anything else the form's `failure`.
export function useSubmit(refuse, fieldOf = (field) => field) {
  const [busy, setBusy] = useState(false);
  const [failure, setFailure] = useState(null);
  async function submit(send) {
    if (busy) return undefined;
    setBusy(true);
    setFailure(null);
    try {
      const answer = await send();
      haptic.success();
      return answer;
    } catch (err) {
      if (err.status === 400 && err.field) refuse(fieldOf(err.field), errorText(err));
      else {
        haptic.error();
        setFailure(err);
      }
      return undefined;
    } finally {
      setBusy(false);
    }
  }
  return { busy, failure, submit };
}

export function Choice({ name, legend, options, value, onChange, labelOf, error }) {
  return (
    <fieldset className="field" aria-invalid={Boolean(error)} aria-describedby={error ? `${name}-error` : undefined}>
      <legend className="label">{legend}</legend>
      <div className="chips">
        {options.map((option) => (
          <label key={option} className={value === option ? "chip chip-on" : "chip"}>
            <input type="radio" name={name} value={option} checked={value === option}
                   onChange={() => { haptic.select(); onChange(option); }} />
            <span>{labelOf(option)}</span>
          </label>
        ))}
      </div>
      {error && <p id={`${name}-error`} className="field-error" role="alert">{error}</p>}
    </fieldset>
  );
}

// A text input (or `multiline` textarea); `refs.current[name]` gets the element (to focus a refused one).
export function Text({ name, label, value, onChange, error, hint, inputMode, maxLength, refs, type = "text", multiline,
                      placeholder }) {
  const safe = name.replace(/[^A-Za-z0-9_-]/g, "_");
  const id = `f-${safe}`;
  const props = {
    id, name, className: multiline ? "input textarea" : "input", value, inputMode, maxLength, placeholder,
    autoComplete: "off",
    "aria-invalid": Boolean(error),
    "aria-describedby": [error && `${safe}-error`, hint && `${safe}-hint`].filter(Boolean).join(" ") || undefined,
    ref: (el) => { if (refs) refs.current[name] = el; },
    onChange: (e) => onChange(e.target.value),
  };
  return (
    <div className="field">
      <label className="label" htmlFor={id}>{label}</label>
      {multiline ? <textarea rows={4} {...props} /> : <input type={type} {...props} />}
      {hint && <p id={`${safe}-hint`} className="hint small">{hint}</p>}
      {error && <p id={`${safe}-error`} className="field-error" role="alert">{error}</p>}
    </div>
  );
}
