// A photo for triage: the area, the picture (camera or gallery) sent as it is; the bot's intake checks and
// cleans it, the triage runs as for a photo sent in the chat, and its answer (the chat's text) is polled here.
import { useEffect, useRef, useState } from "react";
import { t } from "../../i18n.js";
import { get, upload } from "../../api.js";
import { goBack, navigate } from "../../router.js";
import { haptic, useBackButton, useMainButton } from "../../tg.js";
import { ErrorNote, Screen, Section } from "../../components/ui.jsx";
import { Choice } from "../../components/fields.jsx";

const AREAS = ["skin", "eye", "other"];
const POLL_MS = 1500;
const POLL_FOR_MS = 120000;

export default function PhotoCheck({ petId }) {
  const [area, setArea] = useState("skin");
  const [stage, setStage] = useState("choose"); // choose|sending|analysing|done|slow
  const [result, setResult] = useState(null);
  const [failure, setFailure] = useState(null);
  const [preview, setPreview] = useState(null);
  const input = useRef(null);
  const poll = useRef(null);
  useEffect(() => () => clearTimeout(poll.current), []);
  useEffect(() => () => preview && URL.revokeObjectURL(preview), [preview]);

  function follow(photoId, until) {
    poll.current = setTimeout(async () => {
      try {
        const { photo } = await get(`/api/photos/${encodeURIComponent(photoId)}`);
        if (photo.status === "done") {
          haptic.success();
          setResult(photo.result);
          setStage("done");
          return;
        }
      } catch (err) {
        if (err.status && err.status < 500) { setFailure(err); setStage("choose"); return; }
      }
      if (Date.now() < until) follow(photoId, until);
      else setStage("slow");
    }, POLL_MS);
  }

  async function send(file) {
    if (!file) return;
    clearTimeout(poll.current);
    setFailure(null);
    setResult(null);
    setPreview(URL.createObjectURL(file));
    setStage("sending");
    try {
      const { photo } = await upload(`/api/pets/${encodeURIComponent(petId)}/photos?area=${area}`, file);
      setStage("analysing");
      follow(photo.id, Date.now() + POLL_FOR_MS);
    } catch (err) {
      haptic.error();
      setFailure(err);
      setStage("choose");
    }
  }

  const busy = stage === "sending" || stage === "analysing";
  useBackButton(() => goBack(`/pets/${encodeURIComponent(petId)}`));
  useMainButton(stage === "done" ? t("triage.btn.book") : busy ? null : t("webapp.photo.choose"),
    stage === "done" ? () => navigate(`/pets/${encodeURIComponent(petId)}/vets`) : () => input.current && input.current.click());
  return (
    <Screen title={t("triage.btn.check")}>
      <Choice name="area" legend={t("webapp.photo.area")} options={AREAS} value={area} onChange={setArea}
              labelOf={(a) => t(`triage.area.${a}`)} />
      <p className="hint small">{t("webapp.photo.hint")}</p>
      <input ref={input} id="photo-input" type="file" accept="image/*" className="visually-hidden" tabIndex={-1}
             aria-label={t("webapp.photo.choose")} disabled={busy}
             onChange={(e) => { send(e.target.files && e.target.files[0]); e.target.value = ""; }} />
      {stage !== "done" && !busy && (
        <button type="button" className="btn btn-secondary" onClick={() => input.current.click()}>{t("webapp.photo.choose")}</button>
      )}
      {preview && <img className="photo-preview" src={preview} alt="" />}
      {stage === "sending" && <p className="hint" role="status">{t("webapp.photo.sending")}</p>}
      {stage === "analysing" && <p className="hint" role="status" data-testid="analysing">{t("triage.analysing")}</p>}
      {stage === "slow" && <p className="note" role="status">{t("webapp.photo.slow")}</p>}
      {result && (
        <Section id="result">
          <p className="block plain-text" data-testid="triage-result" data-outcome={result.outcome}
             data-urgency={result.urgency}>{result.text}</p>
        </Section>
      )}
      <ErrorNote error={failure} />
    </Screen>
  );
}
