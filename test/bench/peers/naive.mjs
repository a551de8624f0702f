// A peer for the receiver benchmark: the receiver most people would write first in Node.
// HTTPS with mutual TLS on loopback, JSON.parse of the body, each item appended as a line to one
// file (no sync), 200 once the write is done. Not part of audit-lab.
// Run: node naive.mjs PORT CA_CERT SERVER_CERT SERVER_KEY OUT_FILE
import { createWriteStream, readFileSync } from 'node:fs';
import { createServer } from 'node:https';

const [port, ca, cert, key, outFile] = process.argv.slice(2);
const out = createWriteStream(outFile, { flags: 'a' });
const tls = { ca: readFileSync(ca), cert: readFileSync(cert), key: readFileSync(key) };

const server = createServer({ ...tls, requestCert: true, rejectUnauthorized: true }, (req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    let lines;
    try {
      lines = JSON.parse(Buffer.concat(chunks).toString('utf8')).items.map((e) => `${JSON.stringify(e)}\n`);
    } catch (err) {
      res.writeHead(400).end(String(err));
      return;
    }
    out.write(lines.join(''), (err) => res.writeHead(err ? 500 : 200).end());
  });
});
server.listen(Number(port), '127.0.0.1', () => console.error(`listening on 127.0.0.1:${port}`));
