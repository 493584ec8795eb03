// The camera grid: one tile per camera. Figures come from /api/cameras once a second;
// each tile polls its camera's latest.jpg (one request at a time, never one MJPEG
// stream per tile: browsers allow about six connections per host).
"use strict";

const tiles = new Map();

function makeTile(cameraId) {
  const tile = document.createElement("article");
  tile.className = "tile";
  tile.dataset.camera = cameraId;
  tile.innerHTML = `
    <a class="link"><img class="frame" alt=""></a>
    <div class="body">
      <div class="name"><a class="link"></a><span class="age"></span></div>
      <div class="figures">
        <span><b class="fps">–</b> frames/s</span>
        <span>p50 <b class="p50">–</b> ms</span>
        <span>p95 <b class="p95">–</b> ms</span>
        <span><b class="faces">0</b> faces</span>
        <span><b class="dropped">0</b> dropped</span>
        <span><b class="failed">0</b> failed</span>
      </div>
      <svg class="spark" aria-label="results per second, last minute"></svg>
    </div>`;
  const href = `/camera/${encodeURIComponent(cameraId)}`;
  tile.querySelectorAll("a.link").forEach((a) => { a.href = href; });
  tile.querySelector(".name a").textContent = cameraId;
  tile.querySelector(".frame").alt = `camera ${cameraId}, annotated`;
  document.getElementById("empty")?.remove();
  document.getElementById("grid").append(tile);
  const state = { tile, etag: null, url: null, busy: false };
  tiles.set(cameraId, state);
  return state;
}

function updateFigures(state, camera) {
  const q = (name) => state.tile.querySelector(name);
  q(".fps").textContent = camera.fps.toFixed(1);
  q(".p50").textContent = formatMs(camera.latency_ms.p50);
  q(".p95").textContent = formatMs(camera.latency_ms.p95);
  q(".faces").textContent = camera.faces;
  q(".dropped").textContent = camera.dropped;
  q(".failed").textContent = camera.failed;
  q(".age").textContent = camera.age_s === null ? "" : `${camera.age_s.toFixed(1)} s ago`;
  drawSparkline(q(".spark"), camera.sparkline);
}

async function refreshImage(cameraId, state) {
  if (state.busy) return;
  state.busy = true;
  try {
    const headers = state.etag ? { "If-None-Match": state.etag } : {};
    const response = await fetch(`/api/cameras/${encodeURIComponent(cameraId)}/latest.jpg`, { cache: "no-store", headers });
    if (response.status !== 200) return;
    state.etag = response.headers.get("ETag");
    const image = state.tile.querySelector(".frame");
    const url = URL.createObjectURL(await response.blob());
    image.src = url;
    image.dataset.frame = response.headers.get("X-Frame-Number");
    image.classList.toggle("stale", response.headers.get("X-Stale") === "1");
    if (state.url) URL.revokeObjectURL(state.url);
    state.url = url;
  } catch (error) {
    console.warn(`tile ${cameraId}:`, error);
  } finally {
    state.busy = false;
  }
}

async function refresh() {
  try {
    const response = await fetch("/api/cameras", { cache: "no-store" });
    if (!response.ok) return;
    const { cameras } = await response.json();
    for (const camera of cameras) {
      const state = tiles.get(camera.camera_id) || makeTile(camera.camera_id);
      updateFigures(state, camera);
      refreshImage(camera.camera_id, state);
    }
  } catch (error) {
    console.warn("grid:", error);
  }
}

(async () => {
  const config = await loadConfig();
  drawLegend(document.getElementById("legend"), config);
  privacyNote(document.getElementById("privacy"), config);
  await refresh();
  setInterval(refresh, config.grid_interval_s * 1000);
})();
