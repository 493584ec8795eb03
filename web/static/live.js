// Shared by the grid and the camera page: the emotions' colours (from /api/config, the
// same as `ferstream analyze` and the Grafana dashboard), small SVG helpers.
"use strict";

const SVG_NS = "http://www.w3.org/2000/svg";

async function loadConfig() {
  const response = await fetch("/api/config", { cache: "no-store" });
  if (!response.ok) throw new Error(`config: HTTP ${response.status}`);
  return response.json();
}

function svgElement(name, attributes) {
  const element = document.createElementNS(SVG_NS, name);
  for (const [key, value] of Object.entries(attributes || {})) element.setAttribute(key, value);
  return element;
}

function drawLegend(list, config) {
  list.replaceChildren();
  for (const emotion of config.emotions) {
    const item = document.createElement("li");
    const chip = document.createElement("span");
    chip.className = "chip";
    chip.style.background = config.colours[emotion];
    item.append(chip, document.createTextNode(emotion));
    item.dataset.emotion = emotion;
    item.dataset.colour = config.colours[emotion];
    list.append(item);
  }
}

function drawSparkline(svg, values) {
  const width = 300, height = 28, top = Math.max(1, ...values);
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  svg.setAttribute("preserveAspectRatio", "none");
  const step = values.length > 1 ? width / (values.length - 1) : width;
  const points = values.map((v, i) => `${(i * step).toFixed(1)},${(height - 2 - (v / top) * (height - 4)).toFixed(1)}`);
  svg.replaceChildren(svgElement("polyline", { points: points.join(" "), fill: "none", stroke: "#8ab4f8", "stroke-width": "1.5" }));
  svg.dataset.values = values.join(",");
}

function formatMs(value) {
  return value === null || value === undefined ? "–" : `${Math.round(value)}`;
}

function privacyNote(element, config) {
  element.textContent = config.frames_kept
    ? `privacy ${config.privacy}: annotated frames are kept a few seconds, in memory only`
    : `privacy ${config.privacy}: no frame is kept; boxes and labels only`;
  if (config.results_mode === "aggregate") {
    element.textContent += ` · aggregate mode: emotion counts per ${config.aggregate_window_s} s ` +
      `window of at least ${config.aggregate_min_faces} faces, no face's own result`;
  }
}
