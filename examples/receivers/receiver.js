#!/usr/bin/env node
// A callback receiver that verifies Standard Webhooks deliveries from
// agenthook, with Node.js's standard library only (the same as
// receiver.go):
//
//   WEBHOOK_SECRET=whsec_... node examples/receivers/receiver.js
//
// It listens on RECEIVER_ADDR (default 127.0.0.1:9003) and prints one line
// per delivery.
"use strict";
const crypto = require("crypto");
const http = require("http");

const TOLERANCE = 5 * 60; // seconds either side of webhook-timestamp

// verify returns the webhook-id of a valid delivery, or throws.
function verify(key, headers, body) {
  const id = headers["webhook-id"];
  const timestamp = headers["webhook-timestamp"];
  const signatures = headers["webhook-signature"];
  if (!id || !timestamp || !signatures) {
    throw new Error("missing webhook-id, webhook-timestamp or webhook-signature");
  }
  const ts = Number(timestamp);
  if (!Number.isInteger(ts)) throw new Error("webhook-timestamp is not a unix time");
  if (Math.abs(Date.now() / 1000 - ts) > TOLERANCE) throw new Error("webhook-timestamp too old or too new");
  // The raw bytes of the body, exactly as received.
  const signed = Buffer.concat([Buffer.from(`${id}.${timestamp}.`), body]);
  const expected = crypto.createHmac("sha256", key).update(signed).digest();
  for (const entry of signatures.split(" ")) {
    const [version, sig] = entry.split(",", 2);
    const given = Buffer.from(sig || "", "base64");
    if (version === "v1" && given.length === expected.length && crypto.timingSafeEqual(given, expected)) {
      return id;
    }
  }
  throw new Error("no matching signature");
}

const secret = process.env.WEBHOOK_SECRET || "";
if (!secret.startsWith("whsec_")) {
  console.error("set WEBHOOK_SECRET to the whsec_ secret of the callback (shown once when it is registered)");
  process.exit(1);
}
const key = Buffer.from(secret.slice("whsec_".length), "base64");
const addr = process.env.RECEIVER_ADDR || "127.0.0.1:9003";
const sep = addr.lastIndexOf(":");
const seen = new Set(); // a real receiver keeps ids for a day or so, in its database

http
  .createServer((req, res) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.concat(chunks);
      let id;
      try {
        id = verify(key, req.headers, body);
      } catch (e) {
        console.log(`refused: ${e.message}`);
        res.writeHead(401).end();
        return;
      }
      if (seen.has(id)) {
        console.log(`duplicate ${id}, already handled`);
      } else {
        seen.add(id);
        const event = JSON.parse(body);
        console.log(`verified ${id} ${event.type} task ${event.task_id}`);
      }
      res.writeHead(204).end(); // answer first; do slow work afterwards
    });
  })
  .listen(Number(addr.slice(sep + 1)), addr.slice(0, sep), () => console.log(`listening on http://${addr}`));
