// The admin page: the token stays in this tab's sessionStorage and goes as a Bearer header.
(() => {
'use strict';
const $ = (id) => document.getElementById(id);
const KEY = 'alliance-bot:admin-token';
const status = (text) => { $('status').textContent = text; };
const token = () => sessionStorage.getItem(KEY) || '';
// ?theme=light|dark forces a theme, as data-theme does for the widget (the CSS reads it on <html>).
const forced = new URLSearchParams(location.search).get('theme');
if (forced === 'light' || forced === 'dark') document.documentElement.dataset.theme = forced;

// The collection administered (GET /admin/collections); '' = the default one.
let collection = '';
const scoped = (path) => collection ? path + (path.includes('?') ? '&' : '?') + 'collection=' + encodeURIComponent(collection) : path;

async function call(method, path, body) {
  const res = await fetch(scoped(path), { method, body, headers: { Authorization: 'Bearer ' + token() } });
  if (res.status === 401) {
    sessionStorage.removeItem(KEY);
    show(false);
    throw new Error('Jeton refusé.');
  }
  const data = await res.json().catch(() => null);
  if (!res.ok) throw new Error((data && data.detail) || 'Erreur ' + res.status);
  return data;
}

function show(loggedIn) {
  $('login').hidden = loggedIn;
  $('panel').hidden = !loggedIn;
}

function cell(text, cls) {
  const td = document.createElement('td');
  td.textContent = text;
  if (cls) td.className = cls;
  return td;
}

async function refresh() {
  const names = await call('GET', '/admin/collections');
  if (!names.some((c) => c.name === collection || (!collection && c.default))) collection = names.length && !names[0].default ? names[0].name : '';
  $('collection').replaceChildren(...names.map((c) => {
    const o = document.createElement('option');
    o.value = c.default ? '' : c.name;
    o.textContent = `${c.name} (${c.visibility === 'public' ? 'publique' : 'privée'}, ${c.documents} document(s))`;
    o.selected = o.value === collection;
    return o;
  }));
  $('collection-field').hidden = names.length < 2 && names.every((c) => c.default);
  const docs = await call('GET', '/admin/documents');
  const rows = docs.map((d) => {
    const tr = document.createElement('tr');
    tr.append(cell(d.title || d.source), cell(d.source), cell(String(d.chunks), 'num'));
    const action = document.createElement('td');
    if (d.managed) {
      const b = document.createElement('button');
      b.type = 'button';
      b.className = 'danger';
      b.textContent = 'Supprimer';
      b.setAttribute('aria-label', 'Supprimer ' + d.source);
      b.onclick = () => run(async () => {
        await call('DELETE', '/admin/documents/' + d.source.split('/').map(encodeURIComponent).join('/'));
        return d.source + ' supprimé.';
      });
      action.append(b);
    } else {
      action.textContent = '—';
    }
    tr.append(action);
    return tr;
  });
  $('docs').replaceChildren(...rows);
  show(true);
}

async function run(task) {
  status('En cours…');
  try {
    const done = await task();
    await refresh();
    status(done || '');
  } catch (e) {
    status(e.message);
  }
}

$('login').onsubmit = (e) => {
  e.preventDefault();
  sessionStorage.setItem(KEY, $('token').value);
  $('token').value = '';
  run(async () => 'Connecté.');
};
$('logout').onclick = () => {
  sessionStorage.removeItem(KEY);
  show(false);
  status('Déconnecté.');
};
$('upload').onsubmit = (e) => {
  e.preventDefault();
  const file = $('file').files[0];
  if (!file) return;
  run(async () => {
    const r = await call('POST', '/admin/documents?filename=' + encodeURIComponent(file.name), file);
    $('file').value = '';
    return `${file.name} indexé (${r.chunks} passages, ${r.seconds} s).`;
  });
};
$('reingest').onclick = () => run(async () => {
  const r = await call('POST', '/admin/reingest');
  return `Réindexé : ${r.added.length} ajouté(s), ${r.updated.length} mis à jour, ${r.removed.length} supprimé(s).`;
});
$('report').onclick = async () => {
  try {
    const res = await fetch(scoped('/admin/report?since=7d'), { headers: { Authorization: 'Bearer ' + token(), Accept: 'text/html' } });
    if (!res.ok) throw new Error('Erreur ' + res.status);
    const url = URL.createObjectURL(new Blob([await res.text()], { type: 'text/html' }));
    window.open(url, '_blank', 'noopener');
  } catch (e) {
    status(e.message);
  }
};
$('collection').onchange = () => { collection = $('collection').value; run(async () => ''); };
if (token()) run(async () => ''); else show(false);
})();
