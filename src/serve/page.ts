// The page at `/`: drop a photo, see what the model says. It posts the file's
// bytes to /invocations, so the answer is the server's, preprocessing and all.
export function pageHtml(title: string, classes: string[]): string {
  const esc = (s: string) => s.replace(/[&<>"]/g, (c) => `&#${c.charCodeAt(0)};`);
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${esc(title)}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{font:15px system-ui,sans-serif;max-width:44rem;margin:2rem auto;padding:0 1rem;color:#222}
#drop{border:2px dashed #888;border-radius:8px;padding:2rem;text-align:center;cursor:pointer}
#drop.over{background:#eef}
#view{position:relative;display:inline-block;margin-top:1rem}
#view img{max-width:100%;max-height:24rem;display:block}
#box{position:absolute;border:2px solid #e33;display:none}
table{border-collapse:collapse;margin-top:1rem}td{padding:.2rem .8rem}
#label{font-size:1.6rem;font-weight:600}#error{color:#b00}
</style></head><body>
<h1>${esc(title)}</h1>
<p>Classes: ${classes.map(esc).join(', ')}. Drop a photo (or click to choose one); it is scored by this server with the model's own preprocessing.</p>
<div id="drop">Drop a photo here<input id="file" type="file" accept="image/*" hidden></div>
<p><label>Token (if the server asks for one): <input id="token" type="password" autocomplete="off"></label></p>
<div id="view"><img id="img" alt=""><div id="box"></div></div>
<div id="label"></div><div id="error"></div><table id="probs"></table>
<script>
const $ = (id) => document.getElementById(id);
async function score(file) {
  $('error').textContent = ''; $('label').textContent = '…'; $('probs').innerHTML = ''; $('box').style.display = 'none';
  const img = $('img'); img.src = URL.createObjectURL(file);
  await img.decode().catch(() => {});
  const headers = { 'content-type': file.type || 'application/octet-stream' };
  if ($('token').value) headers.authorization = 'Bearer ' + $('token').value;
  const res = await fetch('invocations', { method: 'POST', headers, body: file });
  const body = await res.json();
  if (!res.ok) { $('label').textContent = ''; $('error').textContent = body.message; return; }
  const p = body.predictions[0];
  $('label').textContent = p.label ?? (p.note || 'no label');
  $('probs').innerHTML = Object.entries(p.probabilities ?? {})
    .map(([c, v]) => '<tr><td>' + c + '</td><td class="prob" data-class="' + c + '">' + v.toFixed(4) + '</td></tr>').join('');
  if (p.face && img.naturalWidth) {
    const s = img.clientWidth / img.naturalWidth, [x, y, w, h] = p.face.box, b = $('box').style;
    Object.assign(b, { display: 'block', left: x * s + 'px', top: y * s + 'px', width: w * s + 'px', height: h * s + 'px' });
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
</script></body></html>
`;
}
