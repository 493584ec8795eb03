// One camera: its live annotated frame (MJPEG), an emotion timeline of the last minutes
// (stacked shares per time bin, and per track once tracks exist), the recent results.
// Results and tracks arrive over Server-Sent Events; the last event id is kept in
// sessionStorage so that a reload resumes where the page left off (Last-Event-ID).
// In results mode aggregate there are no per-face results: the timeline shows the
// camera's closed windows instead, read again every AGGREGATE_POLL_MS, and the table
// lists the recent windows (their end, faces and emotion mix).
"use strict";

const cameraId = decodeURIComponent(location.pathname.split("/").pop());
const base = `/api/cameras/${encodeURIComponent(cameraId)}`;
const BINS = 60;
const TRACK_ROWS = 6;
const RECENT_ROWS = 15;
const AGGREGATE_POLL_MS = 5000;
const storageKey = `ferstream-last-event:${cameraId}`;

let config = null;
let binSeconds = 5;
const bins = new Map(); // bin index -> counts per emotion
const trackBins = new Map(); // track id -> Map(bin index -> counts per label, -1 last)
const trackSeen = new Map(); // track id -> last time seen
let points = 0;
let counted = { results: "0-0", tracks: "0-0" }; // stream entries already in the timeline
let windowsUntil = 0; // the end of the newest aggregate window in the timeline

function binOf(t) { return Math.floor(t / binSeconds); }

function entryAfter(id, than) {
  const [ms, seq] = id.split("-").map(Number), [ms0, seq0] = than.split("-").map(Number);
  return ms > ms0 || (ms === ms0 && seq > seq0);
}

function isNew(eventId, kind) {
  // an event replayed after a reload may already be in the history just read
  const [results, tracks] = eventId.split(",");
  const id = kind === "result" ? results : tracks;
  if (!entryAfter(id, counted[kind === "result" ? "results" : "tracks"])) return false;
  counted[kind === "result" ? "results" : "tracks"] = id;
  return true;
}

function addResult(publishedAt, labels) {
  const index = binOf(publishedAt);
  const counts = bins.get(index) || new Array(config.emotions.length).fill(0);
  for (const label of labels) counts[label] += 1;
  bins.set(index, counts);
  points += 1;
}

function addWindow(start, end, counts) {
  // an aggregate window's counts, spread over the bins it covers by their overlap
  if (end <= windowsUntil) return;
  windowsUntil = end;
  addWindowRow(end, counts);
  for (let index = binOf(start); index * binSeconds < end; index++) {
    const overlap = Math.min(end, (index + 1) * binSeconds) - Math.max(start, index * binSeconds);
    if (overlap <= 0) continue;
    const binCounts = bins.get(index) || new Array(config.emotions.length).fill(0);
    counts.forEach((count, label) => { binCounts[label] += (count * overlap) / (end - start); });
    bins.set(index, binCounts);
  }
  points += 1;
}

async function readWindows() {
  const response = await fetch(`${base}/history`, { cache: "no-store" });
  if (!response.ok) return;
  for (const [start, end, counts] of (await response.json()).aggregates) addWindow(start, end, counts);
}

function addTracks(publishedAt, tracks) {
  const index = binOf(publishedAt);
  for (const [id, label] of tracks) {
    const perBin = trackBins.get(id) || new Map();
    const counts = perBin.get(index) || new Array(config.emotions.length + 1).fill(0);
    counts[label < 0 ? config.emotions.length : label] += 1;
    perBin.set(index, counts);
    trackBins.set(id, perBin);
    trackSeen.set(id, publishedAt);
  }
}

function drawTimeline() {
  const svg = document.getElementById("timeline");
  const width = 600, height = 160, column = width / BINS;
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  svg.setAttribute("preserveAspectRatio", "none");
  const last = binOf(Date.now() / 1000);
  const shapes = [];
  for (let i = 0; i < BINS; i++) {
    const counts = bins.get(last - BINS + 1 + i);
    const total = counts ? counts.reduce((a, b) => a + b, 0) : 0;
    if (!total) continue;
    let y = height;
    counts.forEach((count, label) => {
      if (!count) return;
      const h = (count / total) * height;
      y -= h;
      shapes.push(svgElement("rect", { x: (i * column).toFixed(2), y: y.toFixed(2), width: (column + 0.3).toFixed(2), height: h.toFixed(2), fill: config.colours[config.emotions[label]], "data-emotion": config.emotions[label] }));
    });
  }
  svg.replaceChildren(...shapes);
  svg.dataset.points = String(points);
  svg.dataset.bins = String(new Set(shapes.map((s) => s.getAttribute("x"))).size);
  for (const index of bins.keys()) if (index < last - BINS) bins.delete(index);
}

function drawTracks() {
  const holder = document.getElementById("tracks");
  if (!trackBins.size) return;
  const last = binOf(Date.now() / 1000);
  const newest = [...trackSeen.entries()].sort((a, b) => b[1] - a[1]).slice(0, TRACK_ROWS);
  const rows = newest.map(([id]) => {
    const row = document.createElement("div");
    row.className = "row";
    row.dataset.track = id;
    const name = document.createElement("span");
    name.textContent = `#${id.slice(0, 4)}`;
    const svg = svgElement("svg", { viewBox: `0 0 ${BINS} 1`, preserveAspectRatio: "none" });
    for (const [index, counts] of trackBins.get(id)) {
      const i = index - (last - BINS + 1);
      if (i < 0) continue;
      const top = counts.indexOf(Math.max(...counts));
      const colour = top === config.emotions.length ? "#5a5a5a" : config.colours[config.emotions[top]];
      svg.append(svgElement("rect", { x: i, y: 0, width: 1.05, height: 1, fill: colour }));
    }
    row.append(name, svg);
    return row;
  });
  holder.replaceChildren(...rows);
}

function addRow(result) {
  const body = document.getElementById("recent");
  const row = document.createElement("tr");
  const faces = result.faces.map((f) => `${f.emotion} ${Math.round(Math.max(...f.probabilities) * 100)}%`).join(", ") || "–";
  const time = new Date(result.published_at * 1000).toLocaleTimeString();
  for (const text of [time, result.frame_number, faces, Math.round(result.latency_ms)]) {
    const cell = document.createElement("td");
    cell.textContent = text;
    row.append(cell);
  }
  row.dataset.frame = result.frame_number;
  body.prepend(row);
  while (body.children.length > RECENT_ROWS) body.lastChild.remove();
}

function addWindowRow(end, counts) {
  const body = document.getElementById("recent");
  const row = document.createElement("tr");
  const faces = counts.reduce((sum, count) => sum + count, 0);
  const mix = counts
    .map((count, label) => [count, label])
    .filter(([count]) => count > 0)
    .sort((a, b) => b[0] - a[0])
    .map(([count, label]) => `${config.emotions[label]} ${Math.round((100 * count) / faces)}%`)
    .join(", ") || "–";
  for (const text of [new Date(end * 1000).toLocaleTimeString(), faces, mix]) {
    const cell = document.createElement("td");
    cell.textContent = text;
    row.append(cell);
  }
  row.dataset.windowEnd = end;
  body.prepend(row);
  while (body.children.length > RECENT_ROWS) body.lastChild.remove();
}

function showWindowsTable() {
  document.getElementById("recent-title").textContent = "recent windows";
  const head = document.getElementById("recent-head");
  head.replaceChildren(...["window to", "faces", "emotions"].map((text) => {
    const cell = document.createElement("th");
    cell.textContent = text;
    return cell;
  }));
}

async function refreshFigures() {
  const response = await fetch("/api/cameras", { cache: "no-store" });
  if (!response.ok) return;
  const camera = (await response.json()).cameras.find((c) => c.camera_id === cameraId);
  if (!camera) return;
  const q = (name) => document.querySelector(`#figures ${name}`);
  q(".fps").textContent = camera.fps.toFixed(1);
  q(".p50").textContent = formatMs(camera.latency_ms.p50);
  q(".p95").textContent = formatMs(camera.latency_ms.p95);
  q(".faces").textContent = camera.faces;
  q(".dropped").textContent = camera.dropped;
  q(".failed").textContent = camera.failed;
  drawSparkline(document.getElementById("spark"), camera.sparkline);
}

function follow(after, resumed) {
  const status = document.getElementById("sse-status");
  const source = new EventSource(`${base}/events?after=${encodeURIComponent(after)}`);
  window.ferstreamEvents = [];
  status.dataset.resumedFrom = resumed ? after : "";
  source.addEventListener("hello", () => { status.textContent = resumed ? "live (resumed)" : "live"; });
  source.addEventListener("result", (event) => {
    const result = JSON.parse(event.data);
    window.ferstreamEvents.push({ id: event.lastEventId, kind: "result", frame: result.frame_number });
    sessionStorage.setItem(storageKey, event.lastEventId);
    if (!isNew(event.lastEventId, "result")) return;
    addResult(result.published_at, result.faces.map((f) => f.label));
    addRow(result);
  });
  source.addEventListener("tracks", (event) => {
    const message = JSON.parse(event.data);
    window.ferstreamEvents.push({ id: event.lastEventId, kind: "tracks", frame: message.frame_number });
    sessionStorage.setItem(storageKey, event.lastEventId);
    if (!isNew(event.lastEventId, "tracks")) return;
    addTracks(message.published_at, message.tracks.filter((t) => t.seen).map((t) => [t.id, t.label === null ? -1 : t.label]));
  });
  source.onerror = () => { status.textContent = "reconnecting …"; };
}

(async () => {
  document.getElementById("title").textContent = cameraId;
  document.title = `ferstream · ${cameraId}`;
  config = await loadConfig();
  binSeconds = (config.timeline_minutes * 60) / BINS;
  document.getElementById("timeline-title").textContent = `emotions, last ${config.timeline_minutes} minutes (share of faces)`;
  drawLegend(document.getElementById("legend"), config);
  privacyNote(document.getElementById("privacy"), config);
  document.getElementById("live").src = `${base}/stream.mjpg`;
  const history = await (await fetch(`${base}/history`, { cache: "no-store" })).json();
  for (const [t, labels] of history.results) addResult(t, labels);
  for (const [t, tracks] of history.tracks) addTracks(t, tracks);
  for (const result of history.recent) addRow(result);
  if (config.results_mode === "aggregate") showWindowsTable();
  for (const [start, end, counts] of history.aggregates) addWindow(start, end, counts);
  if (config.results_mode === "aggregate") {
    document.getElementById("timeline-title").textContent +=
      `, per ${config.aggregate_window_s} s window of at least ${config.aggregate_min_faces} faces`;
    setInterval(readWindows, AGGREGATE_POLL_MS);
  }
  const [results, tracks] = history.last_event_id.split(",");
  counted = { results, tracks };
  const stored = sessionStorage.getItem(storageKey);
  follow(stored || history.last_event_id, Boolean(stored));
  drawTimeline();
  drawTracks();
  setInterval(() => { drawTimeline(); drawTracks(); }, 1000);
  refreshFigures();
  setInterval(refreshFigures, 1000);
})();
