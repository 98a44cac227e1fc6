// The viewer's drawing code: replay panels and controls around the replayer, heatmap
// overlays, the journey graph (d3-force), 3D scroll paths (three.js) and the live
// stream. The Python side (main.py) decides *what* to show and hands plain JSON here;
// this module only draws and reports clicks back through callbacks.
import { createReplayer } from './replayer.js';
import * as d3 from '../vendor/d3/d3.js';
import * as THREE from '../vendor/three/three.js';

const INACTIVE_MS = 2000; // a gap longer than this is skipped when "skip inactivity" is on
const SPEEDS = ['1', '2', '4', '8'];

// ------------------------------------------------------------------ replay + panels
/**
 * Build the player with timeline markers, synchronised panels and keyboard shortcuts.
 * @param {HTMLElement} root  where the replayer goes
 * @param {HTMLElement} panels  where the panels go
 * @param {string} eventsJson  the session's events
 * @param {string} extraJson  {markers: [{at, kind, label}], rows: [{at, panel, text, bad}], t0}
 */
export function createPlayer(root, panels, eventsJson, extraJson) {
  const extra = JSON.parse(extraJson);
  const player = createReplayer(root, eventsJson);
  const track = root.querySelector('[data-role="track"]');
  const speed = root.querySelector('[data-role="speed"]');
  const times = JSON.parse(eventsJson).map((e) => e.ts - extra.t0).filter((t) => t >= 0).sort((a, b) => a - b);
  const duration = player.duration || 1;

  for (const m of extra.markers) addMarker(track, m, duration);

  const controls = document.createElement('div');
  controls.className = 'replay-extra';
  controls.innerHTML = `
    <label class="inline"><input type="checkbox" data-role="skip" checked> Skip inactivity</label>
    <button type="button" data-role="prev-marker" title="Previous marker (p)">◀ marker</button>
    <button type="button" data-role="next-marker" title="Next marker (n)">marker ▶</button>
    <span class="hint">Keys: space play/pause · ←/→ 5 s · 1–4 speed · n/p markers · i skip inactivity · a annotate</span>`;
  root.appendChild(controls);
  const skip = controls.querySelector('[data-role="skip"]');

  // Panels: one list per kind, each row seeks; the current row follows the replay.
  const kinds = [['network', 'Network'], ['console', 'Console'], ['errors', 'Errors'], ['custom', 'Custom'], ['state', 'State']];
  panels.innerHTML = `<div class="tabs" role="tablist">${kinds.map(([k, name], n) =>
    `<button type="button" role="tab" data-panel="${k}" class="${n ? '' : 'active'}">${name} <span class="count">${extra.rows.filter((r) => r.panel === k).length}</span></button>`).join('')}</div>` +
    kinds.map(([k], n) => `<ol class="panel-rows" data-rows="${k}" ${n ? 'hidden' : ''}>${extra.rows.filter((r) => r.panel === k).map((r) =>
      `<li data-at="${r.at}" class="${r.bad ? 'bad' : ''}"><span class="at">${clock(r.at)}</span> ${escapeHtml(r.text)}</li>`).join('') || '<li class="empty">Nothing recorded.</li>'}</ol>`).join('');
  panels.onclick = (e) => {
    const tab = e.target.closest('[data-panel]');
    if (tab) {
      for (const b of panels.querySelectorAll('[data-panel]')) b.classList.toggle('active', b === tab);
      for (const l of panels.querySelectorAll('[data-rows]')) l.hidden = l.dataset.rows !== tab.dataset.panel;
      return;
    }
    const row = e.target.closest('li[data-at]');
    if (row) player.seek(Number(row.dataset.at));
  };

  const markerTimes = () => [...new Set([...track.querySelectorAll('[data-at]')].map((m) => Number(m.dataset.at)))].sort((a, b) => a - b);
  const jump = (dir) => {
    const t = player.time;
    const all = markerTimes();
    const to = dir > 0 ? all.find((m) => m > t + 50) : [...all].reverse().find((m) => m < t - 50);
    if (to != null) player.seek(to);
  };
  controls.querySelector('[data-role="next-marker"]').onclick = () => jump(1);
  controls.querySelector('[data-role="prev-marker"]').onclick = () => jump(-1);

  let last = -1;
  const timer = setInterval(() => {
    const t = player.time;
    if (skip.checked && player.playing) {
      const next = times.find((x) => x > t);
      if (next != null && next - t > INACTIVE_MS) player.seek(next - 300);
    }
    if (t === last) return;
    last = t;
    for (const list of panels.querySelectorAll('[data-rows]')) {
      let current = null;
      for (const li of list.querySelectorAll('li[data-at]')) {
        const past = Number(li.dataset.at) <= t;
        li.classList.toggle('past', past);
        if (past) current = li;
      }
      for (const li of list.querySelectorAll('li.current')) if (li !== current) li.classList.remove('current');
      if (current && !current.classList.contains('current')) {
        current.classList.add('current');
        if (!list.hidden) keepInView(list, current);
      }
    }
  }, 100);

  const keys = (e) => {
    if (!root.isConnected || /^(INPUT|TEXTAREA|SELECT)$/.test(e.target.tagName) && e.target.type !== 'range') return;
    if (root.contains(e.target) && [' ', 'ArrowLeft', 'ArrowRight'].includes(e.key)) return; // the replayer's own
    if (e.key === ' ') { e.preventDefault(); player.playing ? player.pause() : player.play(); }
    else if (e.key === 'ArrowRight') player.seek(player.time + 5000);
    else if (e.key === 'ArrowLeft') player.seek(player.time - 5000);
    else if (SPEEDS[Number(e.key) - 1]) speed.value = SPEEDS[Number(e.key) - 1];
    else if (e.key === 'n') jump(1);
    else if (e.key === 'p') jump(-1);
    else if (e.key === 'i') skip.checked = !skip.checked;
    else if (e.key === 'a') { const box = document.getElementById('note-text'); if (box) { e.preventDefault(); box.focus(); } }
    else return;
    root.dataset.lastKey = e.key;
  };
  document.addEventListener('keydown', keys);

  return {
    player,
    get time() { return player.time; },
    seek: (ms) => player.seek(ms),
    addMarkers(json) { for (const m of JSON.parse(json)) addMarker(track, m, duration); },
    destroy() { clearInterval(timer); document.removeEventListener('keydown', keys); player.destroy(); panels.innerHTML = ''; },
  };
}

/** Scroll `list` (and only it: never the page) so that `row` is inside its visible area. */
function keepInView(list, row) {
  const box = list.getBoundingClientRect();
  const r = row.getBoundingClientRect();
  if (r.top < box.top) list.scrollTop -= box.top - r.top;
  else if (r.bottom > box.bottom) list.scrollTop += r.bottom - box.bottom;
}

function addMarker(track, m, duration) {
  const el = document.createElement('span');
  el.className = `replay-marker ${m.kind}`;
  el.style.left = `${Math.max(0, Math.min(100, (m.at / duration) * 100))}%`;
  el.title = `${clock(m.at)} ${m.label}`;
  el.dataset.at = String(m.at);
  track.appendChild(el);
}

// ------------------------------------------------------------------ heatmap
/**
 * Measure where each click hit inside its element: replay the session to the click, at the
 * recorded viewport, and read the element's box. Returns [[ts, fx, fy] | [ts, null, null]].
 * @param {string} eventsJson
 * @param {string} clicksJson  [{ts, x, y, selector}]
 */
export function measureClicks(eventsJson, clicksJson) {
  const clicks = JSON.parse(clicksJson);
  const box = document.createElement('div');
  box.style.cssText = 'position:absolute;left:-20000px;top:0;width:4000px;visibility:hidden';
  document.body.appendChild(box);
  const events = JSON.parse(eventsJson);
  const t0 = events.length ? Math.min(...events.map((e) => e.ts)) : 0;
  const p = createReplayer(box, eventsJson, { fitHeight: false });
  p.frame.removeAttribute('id'); // #replay-frame stays the session player's
  const out = [];
  try {
    for (const c of clicks) {
      p.seek(c.ts - t0);
      const doc = p.frame.contentDocument;
      let el = null;
      try { el = c.selector ? doc.querySelector(c.selector) : null; } catch (e) { el = null; }
      const r = el && el.getBoundingClientRect();
      if (!r || r.width < 1 || r.height < 1) { out.push([c.ts, null, null]); continue; }
      out.push([c.ts, clamp((c.x - r.left) / r.width), clamp((c.y - r.top) / r.height)]);
    }
  } finally {
    p.destroy();
    box.remove();
  }
  return JSON.stringify(out);
}

const clamp = (v) => Math.max(0, Math.min(1, v));

/**
 * Show a page's snapshot (replayed at `at` ms of the given session, at `width` px) with the
 * heatmap drawn over it, anchored to the elements of this snapshot.
 * @param {HTMLElement} root
 * @param {string} eventsJson  the representative session's events
 * @param {number} at  ms into that session where the page's snapshot is
 * @param {string} heatJson  py_core.aggregate.heatmap() result
 * @param {string} mode  clicks | moves | scroll
 */
export function showHeatmap(root, eventsJson, at, heatJson, mode) {
  const heat = JSON.parse(heatJson);
  root.innerHTML = '<div class="heat-player"></div>';
  const p = createReplayer(root.firstChild, eventsJson, { fitHeight: false });
  p.frame.removeAttribute('id');
  p.frame.classList.add('heat-frame');
  p.seek(at);
  root.querySelector('.replay-controls').hidden = true;
  const frame = p.frame;
  const doc = frame.contentDocument;
  frame.contentWindow.scrollTo(0, 0);
  const width = frame.offsetWidth;
  const height = Math.min(6000, Math.max(frame.offsetHeight, doc.documentElement.scrollHeight,
    doc.body ? doc.body.scrollHeight : 0));
  frame.style.height = `${height}px`;
  const scaler = root.querySelector('[data-role="scaler"]');
  const stage = root.querySelector('[data-role="stage"]');
  const scale = Math.min(1, (stage.clientWidth || width) / width);
  stage.style.height = `${height * scale}px`;
  const canvas = document.createElement('canvas');
  canvas.className = 'heat-canvas';
  canvas.width = width;
  canvas.height = height;
  scaler.appendChild(canvas);
  const g = canvas.getContext('2d');
  let drawn = 0;
  if (mode === 'clicks') {
    const peak = Math.max(1, ...heat.clicks.map((c) => c.count));
    for (const c of heat.clicks) {
      let el = null;
      try { el = doc.querySelector(c.selector); } catch (e) { el = null; }
      if (!el) continue;
      const r = el.getBoundingClientRect();
      const pts = c.points.length ? c.points : [[0.5, 0.5]];
      const weight = c.count / pts.length;
      g.strokeStyle = 'rgba(224, 36, 36, .55)';
      g.strokeRect(r.left, r.top, r.width, r.height);
      for (const [fx, fy] of pts) blob(g, r.left + fx * r.width, r.top + fy * r.height, 26, weight / peak);
      g.fillStyle = '#111a';
      g.fillRect(r.right - 30, r.top - 2, 30, 16);
      g.fillStyle = '#fff';
      g.font = 'bold 12px system-ui';
      g.fillText(String(c.count), r.right - 26, r.top + 11);
      drawn++;
    }
    for (const [x, y] of heat.unanchored) blob(g, x, y, 18, 0.3);
  } else if (mode === 'moves') {
    const cw = width / heat.moves.cols;
    for (const [col, row, n] of heat.moves.cells) {
      blob(g, (col + 0.5) * cw, (row + 0.5) * heat.moves.row_px, Math.max(cw, 30), n / (heat.moves.peak || 1));
      drawn++;
    }
  } else {
    for (const [y, share] of heat.scroll) {
      g.fillStyle = `hsla(${Math.round(share * 120)}, 85%, 50%, .28)`;
      g.fillRect(0, y, width, heat.moves.row_px);
      drawn++;
    }
    g.font = 'bold 13px system-ui';
    for (const [y, share] of heat.scroll) {
      if (y % 300) continue;
      g.fillStyle = '#111c';
      g.fillRect(4, y + 2, 150, 18);
      g.fillStyle = '#fff';
      g.fillText(`${Math.round(share * 100)}% reached ${y} px`, 8, y + 15);
    }
  }
  root.dataset.drawn = String(drawn);
  return p;
}

function blob(g, x, y, r, strength) {
  const a = Math.max(0.08, Math.min(1, strength));
  const grad = g.createRadialGradient(x, y, 0, x, y, r);
  grad.addColorStop(0, `rgba(255, 40, 0, ${0.85 * a})`);
  grad.addColorStop(0.5, `rgba(255, 170, 0, ${0.45 * a})`);
  grad.addColorStop(1, 'rgba(255, 255, 0, 0)');
  g.fillStyle = grad;
  g.beginPath();
  g.arc(x, y, r, 0, Math.PI * 2);
  g.fill();
}

// ------------------------------------------------------------------ journeys (d3-force)
/**
 * A force-directed graph of py_core.aggregate.journeys(): pages (size = views, colour =
 * drop-off), their key elements, and links weighted by how many sessions took them.
 * @param {HTMLElement} root
 * @param {string} graphJson
 * @param {number} ticks  layout iterations to run before drawing (then it keeps settling)
 */
export function showJourneys(root, graphJson, ticks = 300) {
  const graph = JSON.parse(graphJson);
  const width = root.clientWidth || 900;
  const height = 560;
  root.innerHTML = '';
  const svg = d3.select(root).append('svg').attr('viewBox', [0, 0, width, height]).attr('class', 'journey-svg');
  svg.append('defs').append('marker').attr('id', 'arrow').attr('viewBox', '0 -5 10 10').attr('refX', 10)
    .attr('markerUnits', 'userSpaceOnUse').attr('markerWidth', 12).attr('markerHeight', 12).attr('orient', 'auto')
    .append('path').attr('d', 'M0,-5L10,0L0,5').attr('fill', '#7a869f');
  const nodes = graph.nodes.map((n) => ({ ...n }));
  const links = graph.links.map((l) => ({ ...l }));
  const maxViews = d3.max(nodes, (n) => n.views || 0) || 1;
  const maxLink = d3.max(links, (l) => l.value) || 1;
  const radius = (n) => (n.kind === 'page' ? 14 + 22 * Math.sqrt((n.views || 0) / maxViews) : 7);
  const colour = d3.scaleSequential(d3.interpolateRdYlGn).domain([1, 0]);
  const sim = d3.forceSimulation(nodes)
    .force('link', d3.forceLink(links).id((d) => d.id).distance((l) => (l.kind === 'click' ? 70 : 190)).strength(0.5))
    .force('charge', d3.forceManyBody().strength(-650))
    .force('collide', d3.forceCollide().radius((n) => radius(n) + 24))
    .force('center', d3.forceCenter(width / 2, height / 2))
    .force('x', d3.forceX(width / 2).strength(0.04))
    .force('y', d3.forceY(height / 2).strength(0.06))
    .stop();
  for (let i = 0; i < ticks; i++) sim.tick();
  const link = svg.append('g').selectAll('g').data(links).join('g').attr('class', (l) => `journey-link ${l.kind}`);
  const path = link.append('path').attr('fill', 'none').attr('marker-end', 'url(#arrow)')
    .attr('stroke', (l) => (l.kind === 'click' ? '#f0a35e' : '#7a869f'))
    .attr('stroke-opacity', 0.75)
    .attr('stroke-width', (l) => 1.5 + 9 * (l.value / maxLink));
  const linkLabel = link.append('text').attr('class', 'journey-count').text((l) => l.value);
  const node = svg.append('g').selectAll('g').data(nodes).join('g').attr('class', (n) => `journey-node ${n.kind}`)
    .attr('data-id', (n) => n.id)
    .call(d3.drag()
      .on('start', (e, d) => { if (!e.active) sim.alphaTarget(0.2).restart(); d.fx = d.x; d.fy = d.y; })
      .on('drag', (e, d) => { d.fx = e.x; d.fy = e.y; })
      .on('end', (e, d) => { if (!e.active) sim.alphaTarget(0); d.fx = null; d.fy = null; }));
  node.filter((n) => n.kind === 'page').append('circle').attr('r', radius)
    .attr('fill', (n) => colour(n.drop_off)).attr('stroke', '#1d2433').attr('stroke-width', 1.5);
  node.filter((n) => n.kind === 'element').append('rect').attr('x', -7).attr('y', -7).attr('width', 14).attr('height', 14)
    .attr('rx', 3).attr('fill', '#f0a35e');
  node.append('title').text((n) => (n.kind === 'page'
    ? `${n.page}\n${n.views} views · ${n.entries} entries · ${n.exits} exits (${Math.round(n.drop_off * 100)}% drop-off)`
    : `${n.label}\n${n.selector}\n${n.clicks} clicks`));
  node.append('text').attr('class', 'journey-label').attr('dy', (n) => (n.kind === 'page' ? -radius(n) - 6 : -11))
    .attr('text-anchor', 'middle').text((n) => (n.kind === 'page' ? n.page : `“${n.label}”`));
  node.filter((n) => n.kind === 'page').append('text').attr('class', 'journey-drop').attr('dy', 4).attr('text-anchor', 'middle')
    .text((n) => `${Math.round(n.drop_off * 100)}%`);
  const draw = () => {
    path.attr('d', (l) => {
      const dx = l.target.x - l.source.x;
      const dy = l.target.y - l.source.y;
      const d = Math.hypot(dx, dy) || 1;
      const tx = l.target.x - (dx / d) * (radius(l.target) + 3);
      const ty = l.target.y - (dy / d) * (radius(l.target) + 3);
      return l.kind === 'click' ? `M${l.source.x},${l.source.y}L${tx},${ty}`
        : `M${l.source.x},${l.source.y}A${d * 1.2},${d * 1.2} 0 0,1 ${tx},${ty}`;
    });
    linkLabel.attr('x', (l) => (l.source.x + l.target.x) / 2 + (l.kind === 'click' ? 0 : (l.target.y - l.source.y) * 0.15))
      .attr('y', (l) => (l.source.y + l.target.y) / 2 - (l.kind === 'click' ? 0 : (l.target.x - l.source.x) * 0.15));
    node.attr('transform', (n) => `translate(${n.x},${n.y})`);
  };
  sim.on('tick', draw);
  draw();
  const legend = svg.append('g').attr('class', 'journey-legend').attr('transform', 'translate(12,18)');
  legend.append('text').text(`${graph.sessions} sessions · circle = page (size: views, colour: drop-off) · square = key element`);
  legend.append('text').attr('y', 16).text('numbers: on a page → page arrow, the times visitors went that way; on a page → element line, its clicks');
  root.dataset.nodes = String(nodes.length);
  root.dataset.links = String(links.length);
  return { stop: () => sim.stop() };
}

// ------------------------------------------------------------------ 3D scroll paths (three.js)
let scene3d = null;

/**
 * Scroll paths of many sessions in 3D: x = time, y = scroll depth (down), z = session.
 * Drag to rotate, wheel to zoom (OrbitControls).
 * @param {HTMLElement} root
 * @param {string} pathsJson  py_core.aggregate.scroll_paths(), already filtered
 */
export function showScroll3D(root, pathsJson) {
  if (scene3d) scene3d.dispose();
  const paths = JSON.parse(pathsJson);
  const width = root.clientWidth || 900;
  const height = 520;
  root.innerHTML = '';
  let renderer;
  try {
    renderer = new THREE.WebGLRenderer({ antialias: true, preserveDrawingBuffer: true });
  } catch (e) {
    root.textContent = `3D needs WebGL, which this browser refused: ${e.message}`;
    root.dataset.error = 'webgl';
    return null;
  }
  renderer.setPixelRatio(Math.min(2, devicePixelRatio || 1));
  renderer.setSize(width, height);
  renderer.setClearColor(0xf7f8fc);
  root.appendChild(renderer.domElement);
  const scene = new THREE.Scene();
  const camera = new THREE.PerspectiveCamera(45, width / height, 1, 5000);
  camera.position.set(-120, 60, 560);
  const controls = new THREE.OrbitControls(camera, renderer.domElement);
  controls.target.set(0, -110, 0);
  controls.enableDamping = true;
  const maxT = Math.max(1, ...paths.map((p) => p.duration));
  const maxY = Math.max(1, ...paths.flatMap((p) => p.points.map((q) => q[1])));
  const X = 400 / maxT;
  const Y = 240 / maxY;
  const Z = Math.min(24, 400 / Math.max(1, paths.length));
  const x0 = -200;
  const z0 = -((paths.length - 1) * Z) / 2;
  const colours = { mobile: 0xe0245e, tablet: 0xf0a35e, desktop: 0x3b6cf6 };
  paths.forEach((p, k) => {
    const pts = [];
    let prev = null;
    for (const [t, y] of p.points) {
      if (prev) pts.push(new THREE.Vector3(x0 + t * X, -prev * Y, z0 + k * Z)); // hold depth until the change: steps
      pts.push(new THREE.Vector3(x0 + t * X, -y * Y, z0 + k * Z));
      prev = y;
    }
    if (pts.length < 2) return;
    const geo = new THREE.BufferGeometry().setFromPoints(pts);
    scene.add(new THREE.Line(geo, new THREE.LineBasicMaterial({ color: colours[p.bucket] || 0x555555 })));
  });
  // Floor grid and axes: time along x, depth down y, sessions along z.
  const grid = new THREE.GridHelper(420, 14, 0xb5bdd0, 0xdde1ea);
  grid.position.set(0, 2, 0);
  scene.add(grid);
  const axis = (to, colour) => scene.add(new THREE.Line(new THREE.BufferGeometry().setFromPoints(
    [new THREE.Vector3(x0, 0, z0 - 10), to]), new THREE.LineBasicMaterial({ color: colour })));
  axis(new THREE.Vector3(x0 + 420, 0, z0 - 10), 0x1d2433);
  axis(new THREE.Vector3(x0, -260, z0 - 10), 0x1d2433);
  axis(new THREE.Vector3(x0, 0, z0 + paths.length * Z + 10), 0x1d2433);
  for (const [text, pos] of [[`time → ${Math.round(maxT / 1000)} s`, [x0 + 420, 10, z0 - 10]],
    [`scroll depth ↓ ${Math.round(maxY)} px`, [x0, -275, z0 - 10]], [`${paths.length} page views →`, [x0, 10, z0 + paths.length * Z + 14]]]) {
    const s = label(text);
    s.position.set(...pos);
    scene.add(s);
  }
  let raf = 0;
  const loop = () => { controls.update(); renderer.render(scene, camera); raf = requestAnimationFrame(loop); };
  loop();
  root.dataset.lines = String(scene.children.filter((c) => c.isLine).length - 3);
  scene3d = {
    rotate(deg) { const a = (deg * Math.PI) / 180; const { x, z } = camera.position; camera.position.x = x * Math.cos(a) - z * Math.sin(a); camera.position.z = x * Math.sin(a) + z * Math.cos(a); controls.update(); renderer.render(scene, camera); },
    dispose() { cancelAnimationFrame(raf); controls.dispose(); renderer.dispose(); scene3d = null; },
  };
  return scene3d;
}

function label(text) {
  const c = document.createElement('canvas');
  c.width = 512;
  c.height = 64;
  const g = c.getContext('2d');
  g.font = 'bold 30px system-ui';
  g.fillStyle = '#1d2433';
  g.fillText(text, 4, 42);
  const s = new THREE.Sprite(new THREE.SpriteMaterial({ map: new THREE.CanvasTexture(c), depthTest: false }));
  s.scale.set(200, 25, 1);
  s.center.set(0, 0.5);
  return s;
}

// ------------------------------------------------------------------ live
/**
 * Follow a session's sealed batches as the collector stores them (Server-Sent Events over
 * fetch, so the read token travels in a header). Calls onEnvelope(json) per batch.
 * @returns {{close(): void}}
 */
export function follow(base, token, sid, after, onEnvelope, onState) {
  const ctl = new AbortController();
  (async () => {
    try {
      const res = await fetch(`${base}/v1/live/${encodeURIComponent(sid)}?after=${after}`, {
        headers: { Authorization: `Bearer ${token}` }, signal: ctl.signal,
      });
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      onState('open');
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      let buf = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += value;
        let cut;
        while ((cut = buf.indexOf('\n\n')) >= 0) {
          const block = buf.slice(0, cut);
          buf = buf.slice(cut + 2);
          const kind = /^event: (.*)$/m.exec(block);
          const data = /^data: (.*)$/m.exec(block);
          if (kind && kind[1] === 'envelope' && data) await onEnvelope(data[1]);
        }
      }
      onState('ended');
    } catch (e) {
      if (e.name !== 'AbortError') onState(`error: ${e.message}`);
    }
  })();
  return { close: () => ctl.abort() };
}

export function clock(ms) {
  const s = Math.floor(ms / 1000);
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
}

function escapeHtml(s) {
  return String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c]));
}
