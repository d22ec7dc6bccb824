// The drop-a-photo page, in two forms: serve's at `/` posts the file's bytes
// to /invocations (the answer is the server's, preprocessing and all); the web
// export's runs the model in the page. Both show the label, the probabilities
// and, when the answer has one, the face box; tests read them off the page.

const esc = (s: string) => s.replace(/[&<>"]/g, (c) => `&#${c.charCodeAt(0)};`);

export interface PhotoPanel {
  /** Extra markup after the drop zone (serve: the token field). */
  extra?: string;
  /**
   * Module code that defines `async function predict(file)` returning
   * { label, probabilities, face? } and may use top-level await to set up.
   */
  predict: string;
}

export interface PhotoPage extends PhotoPanel {
  title: string;
  intro: string;
  /** Scripts in <head> (the web export: tf.min.js). */
  head?: string;
}

/** The panel's style, by id only, so it sits in another page (the run's report.html) unchanged. */
export const PANEL_STYLE = `#drop{border:2px dashed #888;border-radius:8px;padding:2rem;text-align:center;cursor:pointer}
#drop.over{background:#eef}
#view{position:relative;display:inline-block;margin-top:1rem}
#view img{max-width:100%;max-height:24rem;display:block}
#box{position:absolute;border:2px solid #e33;display:none}
#probs{border-collapse:collapse;margin-top:1rem}#probs td{padding:.2rem .8rem}
#label{font-size:1.6rem;font-weight:600}#error{color:#b00}`;

/**
 * The drop zone, the photo with its face box, the label and probabilities, and
 * the module script that scores each photo dropped or chosen. body's
 * data-ready is set once `predict` is set up, data-done counts the photos scored.
 */
export function photoPanel(panel: PhotoPanel): string {
  return `<div id="drop">Drop a photo here<input id="file" type="file" accept="image/*" hidden></div>
${panel.extra ?? ''}
<div id="view"><img id="img" alt=""><div id="box"></div></div>
<div id="label"></div><div id="error"></div><table id="probs"></table>
<script type="module">
const $ = (id) => document.getElementById(id);
${panel.predict}
async function score(file) {
  $('error').textContent = ''; $('label').textContent = '…'; $('probs').innerHTML = ''; $('box').style.display = 'none'; delete $('box').dataset.face;
  const img = $('img'); img.src = URL.createObjectURL(file);
  await img.decode().catch(() => {});
  try {
    const p = await predict(file);
    // A model with several outputs: each output's answer on the label line.
    const outputs = p.outputs && Object.entries(p.outputs).map(([n, o]) => n + ' ' + ('value' in o ? o.value.toFixed(1) : 'labels' in o ? (o.labels.join('+') || '(none)') : o.label)).join(', ');
    $('label').textContent = p.label ?? outputs ?? (p.note || 'no label');
    $('probs').innerHTML = Object.entries(p.probabilities ?? {})
      .map(([c, v]) => '<tr><td>' + c + '</td><td class="prob" data-class="' + c + '">' + v.toFixed(4) + '</td></tr>').join('');
    if (p.face && img.naturalWidth) {
      const s = img.clientWidth / img.naturalWidth, [x, y, w, h] = p.face.box, b = $('box').style;
      $('box').dataset.face = p.face.box.join(',');
      Object.assign(b, { display: 'block', left: x * s + 'px', top: y * s + 'px', width: w * s + 'px', height: h * s + 'px' });
    }
  } catch (err) {
    $('label').textContent = ''; $('error').textContent = err.message ?? String(err);
  }
  document.body.dataset.done = String(Number(document.body.dataset.done || 0) + 1);
}
const drop = $('drop');
drop.onclick = () => $('file').click();
$('file').onchange = (e) => e.target.files[0] && score(e.target.files[0]);
drop.ondragover = (e) => { e.preventDefault(); drop.classList.add('over'); };
drop.ondragleave = () => drop.classList.remove('over');
drop.ondrop = (e) => { e.preventDefault(); drop.classList.remove('over'); if (e.dataTransfer.files[0]) score(e.dataTransfer.files[0]); };
document.body.dataset.ready = '1';
</script>`;
}

export function photoPage(page: PhotoPage): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${esc(page.title)}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{font:15px system-ui,sans-serif;max-width:44rem;margin:2rem auto;padding:0 1rem;color:#222}
${PANEL_STYLE}
</style>${page.head ?? ''}</head><body>
<h1 id="title">${esc(page.title)}</h1>
<p>${esc(page.intro)} Drop a photo (or click to choose one).</p>
${photoPanel(page)}
</body></html>
`;
}

/** Serve's page: the photo's bytes to /invocations, with the token when one is typed in. */
export function servePage(title: string, classes: string[]): string {
  return photoPage({
    title,
    intro: `Classes: ${classes.join(', ')}. Each photo is scored by this server with the model's own preprocessing.`,
    extra:
      '<p><label>Token (if the server asks for one): <input id="token" type="password" autocomplete="off"></label></p>',
    predict: `async function predict(file) {
  const headers = { 'content-type': file.type || 'application/octet-stream' };
  if ($('token').value) headers.authorization = 'Bearer ' + $('token').value;
  const res = await fetch('invocations', { method: 'POST', headers, body: file });
  const body = await res.json();
  if (!res.ok) throw new Error(body.message);
  return body.predictions[0];
}`,
  });
}
