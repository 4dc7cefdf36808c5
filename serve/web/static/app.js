// attncap's captioning page: posts an image to POST /caption and shows its caption, with each
// word's attention laid over the image as a viridis heat map. Plain JavaScript, no build step,
// no dependencies. The heat maps follow captioner.AttentionFigure (Go): the h×w attention grid
// is upsampled bilinearly (grid values at cell centres, clamped at the edges), coloured with
// viridis on one scale for the whole caption (0 … the largest weight of any word), and blended
// at 55% opacity over the image in grey.
'use strict';

(() => {
  const OPACITY = 0.55; // of the heat map over the image, as in the Go figures
  const MIN_SIDE = 640; // the canvas's long side, in pixels: small images are scaled up…
  const MAX_SIDE = 1024; // …and large ones down
  const MAX_BEAM = 5; // the largest beam width offered
  const TYPES = { jpg: 'image/jpeg', jpeg: 'image/jpeg', png: 'image/png', webp: 'image/webp', bmp: 'image/bmp', gif: 'image/gif' };

  const $ = (id) => document.getElementById(id);
  const el = {
    modelInfo: $('model-info'), drop: $('drop'), choose: $('choose'), file: $('file'), beam: $('beam'),
    again: $('again'), status: $('status'), error: $('error'), result: $('result'), view: $('view'),
    viewCaption: $('view-caption'), legend: $('legend'), colorbar: $('colorbar'), tickMid: $('tick-mid'),
    tickMax: $('tick-max'), legendRange: $('legend-range'), captionText: $('caption-text'), words: $('words'),
    details: $('details'), decoding: $('decoding'), alternatives: $('alternatives'),
  };

  let viridis = null; // Promise of a Uint8ClampedArray of 256 RGB triples (8-bit)
  let file = null; // the image being captioned or shown
  let shown = null; // what the result section shows: {file, bitmap, caption, view, selected}
  let seq = 0; // the number of the latest request; older answers are dropped
  let inflight = null; // AbortController of the request in flight
  const limits = { maxBodyBytes: 0 }; // from GET /v1/model's max_body_bytes, when it says

  // ---- Small helpers ----

  function setStatus(text, busy) {
    el.status.textContent = text;
    el.status.classList.toggle('busy', !!busy);
  }

  function hideError() {
    el.error.hidden = true;
    el.error.replaceChildren();
  }

  // showError shows lines in the error box; a line is a string or [text, className].
  function showError(lines) {
    el.error.replaceChildren(...lines.map((l) => {
      const p = document.createElement('p');
      const [text, cls] = Array.isArray(l) ? l : [l, ''];
      p.textContent = text;
      if (cls) p.className = cls;
      return p;
    }));
    el.error.hidden = false;
  }

  function fmtWeight(x) {
    if (!(x > 0)) return '0';
    return String(Number(x.toPrecision(2)));
  }

  function fmtMs(x) {
    if (typeof x !== 'number' || !isFinite(x)) return '–';
    return x < 10 ? `${x.toFixed(1)} ms` : `${Math.round(x)} ms`;
  }

  function fmtBytes(n) {
    if (n < 1024) return `${n} B`;
    if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} kB`;
    return `${(n / 1024 / 1024).toFixed(1)} MB`;
  }

  function upper(s) {
    return s.charAt(0).toUpperCase() + s.slice(1);
  }

  function typeOf(f) {
    if (f.type) return f.type;
    const ext = (f.name || '').split('.').pop().toLowerCase();
    return TYPES[ext] || 'application/octet-stream';
  }

  function describeFile(f) {
    return f.name ? `“${f.name}”` : 'the pasted image';
  }

  // ---- The colour map: captioner.ViridisTable(), served by the Go handler ----

  async function loadViridis() {
    const url = document.body.dataset.viridis || '/static/viridis.json';
    const r = await fetch(url);
    if (!r.ok) throw new Error(`the colour map did not load (HTTP ${r.status})`);
    const table = await r.json();
    if (!Array.isArray(table) || table.length !== 256) throw new Error('the colour map is not 256 colours');
    const v = new Uint8ClampedArray(256 * 3);
    table.forEach((c, i) => {
      for (let k = 0; k < 3; k++) v[3 * i + k] = Math.round(255 * c[k]);
    });
    return v;
  }

  // viridisIndex is captioner.Viridis's entry for t in [0, 1]: ⌊256·t⌋, 255 for t = 1, 0 for NaN.
  function viridisIndex(t) {
    return t > 0 ? Math.min(255, Math.floor(t * 256)) : 0;
  }

  function drawColourBar(v) {
    const ctx = el.colorbar.getContext('2d');
    const img = ctx.createImageData(256, 1);
    for (let i = 0; i < 256; i++) {
      img.data.set([v[3 * i], v[3 * i + 1], v[3 * i + 2], 255], 4 * i);
    }
    ctx.putImageData(img, 0, 0);
  }

  // ---- The model's description and the beam width ----

  async function loadModel(attempt) {
    let r;
    try {
      r = await fetch('/v1/model', { headers: { Accept: 'application/json' } });
    } catch (e) {
      el.modelInfo.textContent = 'Cannot reach the server to describe the model; captioning may still work.';
      return;
    }
    const body = await readJSON(r);
    if (r.status === 503 && attempt < 60) {
      el.modelInfo.textContent = 'The model is still loading…';
      setTimeout(() => loadModel(attempt + 1), Math.min(1000 * (attempt + 1), 5000));
      return;
    }
    if (!r.ok || !body) {
      el.modelInfo.textContent = `The server did not describe its model (${errorText(r, body)}).`;
      return;
    }
    const parts = [];
    if (body.encoder || body.decoder) parts.push(`${body.encoder || '?'} encoder, ${body.decoder || '?'} decoder`);
    if (body.vocab_size) parts.push(`${body.vocab_size} words`);
    if (body.image_size) parts.push(`${body.image_size}×${body.image_size} px input`);
    if (Array.isArray(body.grid)) parts.push(`${body.grid[0]}×${body.grid[1]} attention grid`);
    if (body.backend) parts.push(`backend ${body.backend}`);
    el.modelInfo.textContent = parts.length ? `Model: ${parts.join(' · ')}` : '';
    if (body.checkpoint) el.modelInfo.title = `checkpoint ${body.checkpoint}`;
    setBeamChoices(body.beam, body.max_beam);
    if (Number(body.max_body_bytes) > 0) limits.maxBodyBytes = Number(body.max_body_bytes);
  }

  function setBeamChoices(def, maxBeam) {
    const top = Math.max(1, Math.min(MAX_BEAM, Number(maxBeam) || MAX_BEAM));
    const chosen = Math.max(1, Math.min(top, Math.round(Number(def)) || 3));
    el.beam.replaceChildren();
    for (let k = 1; k <= top; k++) {
      const o = document.createElement('option');
      o.value = String(k);
      o.textContent = k === 1 ? '1 (greedy)' : String(k);
      if (k === chosen) o.textContent += ' (default)';
      el.beam.append(o);
    }
    el.beam.value = String(chosen);
  }

  // ---- Talking to the server ----

  async function readJSON(r) {
    try {
      return JSON.parse(await r.text());
    } catch (e) {
      return null;
    }
  }

  function errorText(r, body) {
    const said = body && typeof body.error === 'string' ? body.error : '';
    return said ? `HTTP ${r.status}: ${said}` : `HTTP ${r.status} ${r.statusText}`.trim();
  }

  // explain is the plain-words sentence for a refused or failed request.
  function explain(r, f) {
    const what = describeFile(f);
    const type = typeOf(f) === 'application/octet-stream' ? 'of an unknown type' : typeOf(f);
    const retry = Number(r.headers.get('Retry-After'));
    const later = retry > 0 ? ` Try again in ${retry} second${retry === 1 ? '' : 's'}.` : ' Try again in a moment.';
    switch (r.status) {
      case 400: return `The server could not read ${what} as an image: it may be damaged, cut short, or not an image at all.`;
      case 413: return `${upper(what)} is too large for the server. Try a smaller image (fewer pixels or a smaller file).`;
      case 415: return `The server does not take this kind of file (${what} is ${type}). Use a JPEG, PNG, WebP, BMP or GIF image.`;
      case 422: return 'The server refused the settings of this request (the beam width).';
      case 429: return 'Too many requests in a short time.' + later;
      case 503: return 'The server is busy or still loading the model.' + later;
      default:
        return r.status >= 500 ? `The server failed to caption this image (HTTP ${r.status}).`
          : `The server refused this request (HTTP ${r.status}).`;
    }
  }

  async function caption(f) {
    if (!f) return;
    file = f;
    hideError();
    if (limits.maxBodyBytes > 0 && f.size > limits.maxBodyBytes) {
      // Checked here because a server may close the connection on an upload over its limit
      // before the browser has read the 413.
      if (inflight) inflight.abort();
      seq++;
      finishFailed(f, [[`${upper(describeFile(f))} is too large for the server: ${fmtBytes(f.size)}, at most ${fmtBytes(limits.maxBodyBytes)}. Try a smaller image.`, 'lead']]);
      return;
    }
    if (inflight) inflight.abort();
    const id = ++seq;
    const ctrl = new AbortController();
    inflight = ctrl;
    const beam = Number(el.beam.value) || 1;
    el.again.disabled = true;
    el.result.setAttribute('aria-busy', 'true');
    el.result.classList.add('stale');
    setStatus(`Captioning ${describeFile(f)} with beam width ${beam}…`, true);

    const bitmap = createImageBitmap(f).catch(() => null); // decoded while the server works
    const discard = () => bitmap.then((b) => b && b.close && b.close());
    const t0 = performance.now();
    let r;
    let body;
    try {
      r = await fetch(`/caption?${decodingQuery(beam)}`, {
        method: 'POST', body: f, signal: ctrl.signal,
        headers: { 'Content-Type': typeOf(f), Accept: 'application/json' },
      });
      body = await readJSON(r);
    } catch (e) {
      discard();
      if (id !== seq) return; // a newer request replaced this one
      inflight = null;
      finishFailed(f, [
        [`Could not reach the server: ${e.message}.`, 'lead'],
        'Check that the attncap server is still running, then choose “Caption again”.',
      ]);
      return;
    }
    const roundTrip = performance.now() - t0;
    if (id !== seq) {
      discard();
      return;
    }
    inflight = null;
    if (!r.ok) {
      discard();
      const lines = [[explain(r, f), 'lead']];
      if (body && typeof body.error === 'string' && body.error) {
        lines.push([`The server said (HTTP ${r.status}): ${body.error}`, 'server-said']);
      } else {
        lines.push([`HTTP ${r.status} ${r.statusText}`.trim(), 'server-said']);
      }
      finishFailed(f, lines);
      return;
    }
    let cap;
    try {
      const list = Array.isArray(body) ? body : [body]; // a list with num_return_sequences > 1
      cap = checkCaption(list[0]);
      cap.alternatives = list.slice(1).map((x) => ({ text: String(x.generated_text || ''), score: x.score, logProb: x.log_prob }));
    } catch (e) {
      discard();
      finishFailed(f, [[`The server's answer was not a caption: ${e.message}.`, 'lead']]);
      return;
    }
    cap.beam = beam;
    cap.roundTrip = roundTrip;
    let colours = null;
    try {
      colours = await viridis;
    } catch (e) {
      colours = null;
    }
    const bmp = await bitmap;
    if (id !== seq) {
      if (bmp && bmp.close) bmp.close();
      return;
    }
    show(f, bmp, cap, colours);
    el.again.disabled = false;
    setStatus(`Captioned ${describeFile(f)} in ${fmtMs(roundTrip)}.`);
  }

  // decodingQuery is the query string of a request: the beam width, attention, and each
  // decoding option of the panel that is set (sampling sends beam width 1).
  function decodingQuery(beam) {
    const q = new URLSearchParams();
    const sample = el.decoding && el.decoding.querySelector('[data-param="do_sample"]');
    q.set('num_beams', String(sample && sample.checked ? 1 : beam));
    q.set('attention', 'true');
    if (!el.decoding) return q.toString();
    for (const input of el.decoding.querySelectorAll('[data-param]')) {
      if (input.type === 'checkbox') {
        if (input.checked) q.set(input.dataset.param, 'true');
      } else if (input.value !== '') {
        q.set(input.dataset.param, input.value);
      }
    }
    return q.toString();
  }

  function finishFailed(f, lines) {
    showError(lines);
    setStatus('');
    el.again.disabled = !file;
    el.result.removeAttribute('aria-busy');
    el.result.classList.remove('stale');
    if (shown && shown.file !== f) {
      el.result.hidden = true; // it shows another image
      shown = null;
    }
  }

  // checkCaption validates the server's answer and returns what the page shows.
  function checkCaption(b) {
    if (!b || typeof b !== 'object') throw new Error('no JSON object');
    const tokens = Array.isArray(b.tokens) ? b.tokens.map(String) : [];
    const text = typeof b.generated_text === 'string' ? b.generated_text : tokens.join(' ');
    const cap = { text, tokens, logProb: b.log_prob, finished: b.finished, time: b.time_ms || {}, attention: null, grid: null, maxWeight: 0, note: '' };
    const g = b.grid;
    if (!Array.isArray(b.attention) || b.attention.length === 0) {
      cap.note = 'The server sent no attention for this caption.';
      return cap;
    }
    if (!Array.isArray(g) || g.length !== 2 || !(g[0] >= 1) || !(g[1] >= 1)) {
      cap.note = 'The server sent attention without a valid grid.';
      return cap;
    }
    const [gh, gw] = g;
    const rows = b.attention.slice(0, tokens.length).map((row) => {
      if (!Array.isArray(row) || row.length !== gh * gw) return null;
      return Float32Array.from(row, (v) => (typeof v === 'number' && isFinite(v) ? v : 0));
    });
    if (rows.some((r) => r === null)) {
      cap.note = `The attention rows do not match the ${gh}×${gw} grid.`;
      return cap;
    }
    cap.attention = rows;
    cap.grid = [gh, gw];
    for (const row of rows) for (const v of row) cap.maxWeight = Math.max(cap.maxWeight, v);
    return cap;
  }

  // ---- Drawing ----

  // prepareView sizes the canvas to the image's aspect ratio and keeps its pixels in colour
  // and in grey (Rec. 601 luma, as the Go figures).
  function prepareView(bmp) {
    const W = bmp.width;
    const H = bmp.height;
    const long = Math.max(W, H);
    const s = Math.min(MAX_SIDE, Math.max(MIN_SIDE, long)) / long;
    const w = Math.max(1, Math.round(W * s));
    const h = Math.max(1, Math.round(H * s));
    const canvas = el.view;
    canvas.width = w;
    canvas.height = h;
    const ctx = canvas.getContext('2d', { willReadFrequently: true });
    ctx.fillStyle = '#fff';
    ctx.fillRect(0, 0, w, h);
    ctx.imageSmoothingEnabled = true;
    ctx.imageSmoothingQuality = 'high';
    ctx.drawImage(bmp, 0, 0, w, h);
    const base = ctx.getImageData(0, 0, w, h);
    const grey = new Uint8ClampedArray(w * h);
    const p = base.data;
    for (let i = 0, o = 0; i < grey.length; i++, o += 4) {
      grey[i] = Math.round(0.299 * p[o] + 0.587 * p[o + 1] + 0.114 * p[o + 2]);
    }
    return { w, h, W, H, ctx, base, grey, overlays: new Map() };
  }

  // taps maps n pixel centres onto a grid of the given size (align_corners=False, clamped).
  function taps(n, grid) {
    const i0 = new Int32Array(n);
    const i1 = new Int32Array(n);
    const f = new Float32Array(n);
    for (let k = 0; k < n; k++) {
      let g = ((k + 0.5) * grid) / n - 0.5;
      g = Math.min(Math.max(g, 0), grid - 1);
      i0[k] = Math.floor(g);
      i1[k] = Math.min(i0[k] + 1, grid - 1);
      f[k] = g - i0[k];
    }
    return { i0, i1, f };
  }

  // heatMap is word i's attention, upsampled, coloured and blended over the grey image.
  function heatMap(v, cap, i) {
    if (v.overlays.has(i)) return v.overlays.get(i);
    const [gh, gw] = cap.grid;
    const a = cap.attention[i];
    const xs = taps(v.w, gw);
    const ys = taps(v.h, gh);
    const scale = cap.maxWeight > 0 ? 1 / cap.maxWeight : 0;
    const out = new ImageData(v.w, v.h);
    const p = out.data;
    const c = shown.colours;
    for (let y = 0, o = 0; y < v.h; y++) {
      const r0 = ys.i0[y] * gw;
      const r1 = ys.i1[y] * gw;
      const fy = ys.f[y];
      for (let x = 0; x < v.w; x++, o += 4) {
        const c0 = xs.i0[x];
        const c1 = xs.i1[x];
        const fx = xs.f[x];
        const top = a[r0 + c0] * (1 - fx) + a[r0 + c1] * fx;
        const bottom = a[r1 + c0] * (1 - fx) + a[r1 + c1] * fx;
        const k = 3 * viridisIndex((top * (1 - fy) + bottom * fy) * scale);
        const g = (1 - OPACITY) * v.grey[y * v.w + x];
        p[o] = Math.round(g + OPACITY * c[k]);
        p[o + 1] = Math.round(g + OPACITY * c[k + 1]);
        p[o + 2] = Math.round(g + OPACITY * c[k + 2]);
        p[o + 3] = 255;
      }
    }
    v.overlays.set(i, out);
    return out;
  }

  function wordLabel(cap, i) {
    return `“${cap.tokens[i]}” (word ${i + 1} of ${cap.tokens.length})`;
  }

  // choose shows word i's heat map, or the plain image for i = -1.
  function choose(i) {
    if (!shown) return;
    const { cap, view } = shown;
    const usable = i >= 0 && cap.attention && shown.colours && i < cap.attention.length;
    shown.selected = usable ? i : -1;
    for (const b of el.words.querySelectorAll('button')) {
      const on = Number(b.dataset.index) === shown.selected;
      b.setAttribute('aria-pressed', String(on));
    }
    el.legend.classList.toggle('inactive', shown.selected < 0);
    if (!view) return;
    if (shown.selected < 0) {
      view.ctx.putImageData(view.base, 0, 0);
      el.view.setAttribute('aria-label', `Your image, ${view.W}×${view.H} pixels, without a heat map`);
      el.viewCaption.textContent = cap.attention ? 'The image. Choose a word to see where the model looked.' : 'The image.';
      return;
    }
    view.ctx.putImageData(heatMap(view, cap, i), 0, 0);
    let peak = 0;
    for (const x of cap.attention[i]) peak = Math.max(peak, x);
    el.view.setAttribute('aria-label',
      `Your image in grey with the attention of ${wordLabel(cap, i)} over it as a heat map: yellow where the model looked most, dark purple where least`);
    el.viewCaption.textContent = `Attention of ${wordLabel(cap, i)}: largest weight ${fmtWeight(peak)} of the scale's ${fmtWeight(cap.maxWeight)}.`;
  }

  function wordButton(text, index, label, cls) {
    const b = document.createElement('button');
    b.type = 'button';
    b.textContent = text;
    b.dataset.index = String(index);
    b.setAttribute('aria-label', label);
    b.setAttribute('aria-pressed', 'false');
    b.tabIndex = -1;
    if (cls) b.className = cls;
    return b;
  }

  function show(f, bmp, cap, colours) {
    if (shown && shown.bitmap && shown.bitmap !== bmp && shown.bitmap.close) shown.bitmap.close();
    shown = { file: f, bitmap: bmp, cap, colours, view: bmp ? prepareView(bmp) : null, selected: -1 };
    el.result.hidden = false;
    el.result.dataset.shown = String(Number(el.result.dataset.shown || 0) + 1); // for tests and scripts
    el.result.removeAttribute('aria-busy');
    el.result.classList.remove('stale');

    el.captionText.textContent = cap.text || '(the model produced an empty caption)';
    const alts = cap.alternatives || [];
    el.alternatives.hidden = alts.length === 0;
    el.alternatives.replaceChildren(...alts.map((a) => {
      const li = document.createElement('li');
      li.textContent = a.text || '(empty caption)';
      if (typeof a.score === 'number') {
        const s = document.createElement('span');
        s.className = 'muted small';
        s.textContent = ` score ${a.score.toFixed(2)}`;
        li.append(s);
      }
      return li;
    }));

    const buttons = [wordButton('none', -1, 'None: show the plain image', 'none')];
    cap.tokens.forEach((t, i) => {
      const b = wordButton(t, i, `${t}, word ${i + 1} of ${cap.tokens.length}`);
      if (!cap.attention || !colours || !bmp) b.disabled = true;
      buttons.push(b);
    });
    buttons[0].tabIndex = 0;
    el.words.replaceChildren(...buttons);

    const notes = [];
    if (!bmp) notes.push('This browser cannot show this image, so there is no heat map.');
    if (cap.note) notes.push(cap.note);
    if (!colours) notes.push('The colour map did not load, so there is no heat map.');
    if (notes.length) showError(notes);

    el.legend.hidden = !cap.attention || !colours;
    el.tickMid.textContent = fmtWeight(cap.maxWeight / 2);
    el.tickMax.textContent = fmtWeight(cap.maxWeight);
    el.legendRange.textContent = `Colour scale from dark purple for 0, through teal for ${fmtWeight(cap.maxWeight / 2)}, to yellow for ${fmtWeight(cap.maxWeight)}, the largest weight of any word.`;

    const d = [];
    d.push(['Image', [f.name || 'pasted image', bmp ? `${bmp.width}×${bmp.height} px` : '', typeOf(f), fmtBytes(f.size)].filter(Boolean).join(' · ')]);
    d.push(['Beam width', String(cap.beam)]);
    if (typeof cap.logProb === 'number') {
      d.push(['Log-probability', `${cap.logProb.toFixed(2)}${cap.finished === false ? ' (stopped at the length limit, no end of sentence)' : ''}`]);
    }
    const t = cap.time;
    d.push(['Server time', `queue ${fmtMs(t.queue)} · model ${fmtMs(t.model)} · total ${fmtMs(t.total)}`]);
    d.push(['Round trip', `${fmtMs(cap.roundTrip)} (measured by this page: upload, server and answer)`]);
    if (cap.grid) d.push(['Attention grid', `${cap.grid[0]}×${cap.grid[1]} cells, scale 0 … ${fmtWeight(cap.maxWeight)}`]);
    el.details.replaceChildren(...d.flatMap(([k, v]) => {
      const dt = document.createElement('dt');
      dt.textContent = k;
      const dd = document.createElement('dd');
      dd.textContent = v;
      return [dt, dd];
    }));

    choose(-1);
  }

  // ---- Keyboard: the words are a toolbar with one tab stop ----

  function wordButtons() {
    return [...el.words.querySelectorAll('button:not(:disabled)')];
  }

  function focusWord(b) {
    for (const x of el.words.querySelectorAll('button')) x.tabIndex = x === b ? 0 : -1;
    b.focus();
  }

  el.words.addEventListener('click', (e) => {
    const b = e.target.closest('button');
    if (!b || b.disabled) return;
    focusWord(b);
    choose(Number(b.dataset.index));
  });

  el.words.addEventListener('keydown', (e) => {
    const bs = wordButtons();
    const i = bs.indexOf(document.activeElement);
    if (i < 0 || e.altKey || e.ctrlKey || e.metaKey) return;
    let j;
    switch (e.key) {
      case 'ArrowRight': case 'ArrowDown': j = (i + 1) % bs.length; break;
      case 'ArrowLeft': case 'ArrowUp': j = (i - 1 + bs.length) % bs.length; break;
      case 'Home': j = 0; break;
      case 'End': j = bs.length - 1; break;
      default: return;
    }
    e.preventDefault();
    focusWord(bs[j]);
  });

  // ---- Choosing, dropping and pasting an image ----

  el.choose.addEventListener('click', () => el.file.click());
  el.drop.addEventListener('click', (e) => {
    if (!e.target.closest('button')) el.file.click(); // the button opens it itself
  });
  el.file.addEventListener('change', () => {
    const f = el.file.files && el.file.files[0];
    el.file.value = ''; // so that choosing the same file again captions it again
    if (f) caption(f);
  });
  el.beam.addEventListener('change', () => {
    if (file) caption(file);
  });
  el.again.addEventListener('click', () => caption(file));

  const hasFiles = (e) => e.dataTransfer && [...e.dataTransfer.types].includes('Files');
  let dragDepth = 0;
  document.addEventListener('dragenter', (e) => {
    if (!hasFiles(e)) return;
    e.preventDefault();
    dragDepth++;
    el.drop.classList.add('over');
  });
  document.addEventListener('dragover', (e) => {
    if (!hasFiles(e)) return;
    e.preventDefault(); // lets the page take the drop instead of the browser opening the file
    e.dataTransfer.dropEffect = 'copy';
  });
  document.addEventListener('dragleave', (e) => {
    if (!hasFiles(e)) return;
    dragDepth = Math.max(0, dragDepth - 1);
    if (dragDepth === 0) el.drop.classList.remove('over');
  });
  document.addEventListener('drop', (e) => {
    if (!hasFiles(e)) return;
    e.preventDefault();
    dragDepth = 0;
    el.drop.classList.remove('over');
    const f = e.dataTransfer.files[0];
    if (f) caption(f);
    else showError(['Nothing to caption: drop an image file (JPEG, PNG, WebP, BMP or GIF).']);
  });

  document.addEventListener('paste', (e) => {
    const items = e.clipboardData ? [...e.clipboardData.items] : [];
    const item = items.find((it) => it.kind === 'file' && it.type.startsWith('image/'));
    const f = item && item.getAsFile();
    if (f) {
      e.preventDefault();
      caption(f);
    } else if (items.length) {
      showError(['The clipboard holds no image. Copy an image (not its address or a file name), then paste again.']);
    }
  });

  // ---- Start ----

  viridis = loadViridis();
  viridis.then(drawColourBar, (e) => showError([`The heat maps cannot be drawn: ${e.message}.`]));
  loadModel(0);
})();
