// @ctrl/transmission (npm, pinned in tests/webui/package.json) against a
// Transmission RPC server; run by tools_ctrl.py, which asserts on its output.
//
//   node tools_ctrl.mjs BASE_URL RPC_PATH USER PASS HASH
//
// Prints one JSON object: getAllData() (torrents without `raw`, labels), the
// `raw` torrent-get fields of each torrent, getTorrent(HASH) and getSession().
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const entry = path.join(here, '..', 'webui', 'node_modules', '@ctrl', 'transmission', 'dist', 'src', 'index.js');
const { Transmission } = await import(pathToFileURL(entry).href);

const [baseUrl, rpcPath, username, password, hash] = process.argv.slice(2);
const client = new Transmission({ baseUrl, path: rpcPath, username, password, timeout: 30000 });
const all = await client.getAllData();
const one = await client.getTorrent(hash);
const session = await client.getSession();
const strip = ({ raw, ...rest }) => rest;
console.log(JSON.stringify({
  torrents: all.torrents.map(strip),
  rawFields: all.torrents.map(t => Object.keys(t.raw).sort()),
  labels: all.labels,
  one: strip(one),
  session: session.arguments,
}));
