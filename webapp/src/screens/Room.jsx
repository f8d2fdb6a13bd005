// The video room of a booking (a lazily loaded chunk: the provider's SDK comes with it). Camera and
// microphone are asked for first; when the web view refuses them (some Telegram versions do), the page
// says so and offers the same room in the browser (Telegram.WebApp.openLink with the chat's join link).
import { useEffect, useRef, useState } from "react";
import { t } from "../i18n.js";
import { get } from "../api.js";
import { goBack } from "../router.js";
import { formatTime } from "../format.js";
import { haptic, openLink, useBackButton, useMainButton } from "../tg.js";
import { ErrorNote, Loading, Screen } from "../components/ui.jsx";
import { useMe } from "../me.js";

async function askDevices() {
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) return "unsupported";
  try {
    const stream = await navigator.mediaDevices.getUserMedia({ audio: true, video: true });
    stream.getTracks().forEach((track) => track.stop());
    return "granted";
  } catch (err) {
    return err && (err.name === "NotFoundError" || err.name === "OverconstrainedError") ? "no_device" : "denied";
  }
}

// Each join hands its way out (`hold`) as soon as there is something to leave, so that the room's end
// closes a call still connecting too.
async function joinDaily(room, container, hold) {
  const { default: Daily } = await import("@daily-co/daily-js");
  const frame = Daily.createFrame(container, { showLeaveButton: true, iframeStyle: { width: "100%", height: "100%", border: "0" } });
  // destroy() first leaves the call, which waits for Daily's page; the frame goes at once either way
  hold(() => {
    const iframe = frame.iframe();
    frame.destroy().catch(() => {});
    if (iframe) iframe.remove();
  });
  await frame.join({ url: room.url, token: room.token });
}

async function joinLivekit(room, container, hold) {
  const { Room: LkRoom, RoomEvent, Track } = await import("livekit-client");
  const lk = new LkRoom({ adaptiveStream: true, dynacast: true });
  hold(() => lk.disconnect());
  lk.on(RoomEvent.TrackSubscribed, (track) => {
    if (track.kind === Track.Kind.Video || track.kind === Track.Kind.Audio) {
      const el = track.attach();
      el.className = track.kind === Track.Kind.Video ? "remote-video" : "";
      container.appendChild(el);
    }
  });
  lk.on(RoomEvent.TrackUnsubscribed, (track) => track.detach().forEach((el) => el.remove()));
  await lk.connect(room.url, room.token);
  await lk.localParticipant.enableCameraAndMicrophone();
  const mine = lk.localParticipant.getTrackPublication(Track.Source.Camera);
  if (mine && mine.track) {
    const el = mine.track.attach();
    el.className = "local-video";
    el.muted = true;
    container.appendChild(el);
  }
}

export default function Room({ bookingId }) {
  const me = useMe();
  const [room, setRoom] = useState(null);
  const [error, setError] = useState(null);
  const [stage, setStage] = useState("loading"); // loading|closed|asking|denied|no_device|unsupported|joining|joined|ended|failed
  const stage_ = useRef(null);
  useBackButton(() => goBack("/bookings"));
  const fallback = ["denied", "no_device", "unsupported", "failed"].includes(stage) && room && room.join_url;
  useMainButton(fallback ? t("webapp.room.open_browser") : null, () => openLink(room.join_url));

  useEffect(() => {
    let live = true;
    let leave = null;
    let closer = null;
    const close = () => {
      live = false;
      if (leave) leave();
      leave = null;
      setStage("ended");
    };
    (async () => {
      let info;
      try {
        info = await get(`/api/bookings/${encodeURIComponent(bookingId)}/room`);
      } catch (err) {
        // 404: not this person's, or outside the room's window (from T-10 min to the end)
        if (live && err.status === 404) setStage("closed");
        else if (live) { setError(err); setStage("failed"); }
        return;
      }
      if (!live) return;
      setRoom(info);
      // The room closes at the slot's end whatever the page is doing then (asking, joining, in the call).
      const left = Date.parse(info.ends_at) - Date.now();
      if (left <= 0) { close(); return; }
      closer = setTimeout(close, left);
      setStage("asking");
      const access = await askDevices();
      if (!live) return;
      if (access !== "granted") { haptic.error(); setStage(access); return; }
      setStage("joining");
      try {
        await (info.provider === "livekit" ? joinLivekit : joinDaily)(info, stage_.current, (out) => {
          if (live) leave = out;
          else out();
        });
        if (!live) return;
        haptic.success();
        setStage("joined");
      } catch (err) {
        if (live) { haptic.error(); setStage("failed"); }
      }
    })();
    return () => {
      live = false;
      clearTimeout(closer);
      if (leave) leave();
    };
  }, [bookingId]);

  return (
    <Screen title={t("webapp.room.title")}>
      {stage === "loading" && <Loading />}
      <ErrorNote error={error} />
      {stage === "asking" && <p className="hint" role="status">{t("webapp.room.asking")}</p>}
      {stage === "joining" && <p className="hint" role="status">{t("webapp.room.joining")}</p>}
      {["denied", "no_device", "unsupported"].includes(stage) && (
        <div className="note note-error" role="alert" data-testid="room-fallback">
          <p>{t(`webapp.room.${stage}`)}</p>
          {room && room.join_url && <p>{t("webapp.room.browser_hint")}</p>}
        </div>
      )}
      {stage === "failed" && room && <p className="note note-error" role="alert">{t("webapp.room.failed")}</p>}
      {stage === "ended" && <p className="note" role="status">{t("webapp.room.ended")}</p>}
      {stage === "closed" && <p className="note" role="status" data-testid="room-closed">{t("webapp.room.closed")}</p>}
      {room && stage === "joined" && (
        <p className="hint small" data-testid="room-joined">{t("webapp.room.until", { time: formatTime(room.ends_at, me.timezone) })}</p>
      )}
      <div ref={stage_} className={stage === "joined" || stage === "joining" ? "room-stage" : "room-stage room-idle"}
           data-testid="room-stage" data-stage={stage} data-provider={room ? room.provider : undefined} />
    </Screen>
  );
}
