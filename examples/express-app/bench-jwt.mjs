// What jsonwebtoken's HS256 sign and verify cost in this Node.js, with the
// key given as a string (a KeyObject made on every call) and as a KeyObject
// made once (what app.js does). One thread, 20,000 calls each after 2,000
// to warm up; prints µs per call.
// Usage: node examples/express-app/bench-jwt.mjs   (after npm ci there)
import { createSecretKey } from "node:crypto";
import jwt from "jsonwebtoken";

const secret = "express-app-bench-jwt-secret-0123456789abcdef";
const claims = { algorithm: "HS256", subject: "user1", issuer: "express-app", audience: "express-app-api", expiresIn: "15m" };
const checks = { algorithms: ["HS256"], issuer: "express-app", audience: "express-app-api" };

function perCall(f) {
  for (let i = 0; i < 2000; i++) f();
  const n = 20000;
  const start = process.hrtime.bigint();
  for (let i = 0; i < n; i++) f();
  return Number(process.hrtime.bigint() - start) / n / 1000;
}

console.log(`node ${process.version}, OpenSSL ${process.versions.openssl}`);
for (const [name, key] of [["string key", secret], ["KeyObject", createSecretKey(Buffer.from(secret))]]) {
  const token = jwt.sign({}, key, claims);
  const sign = perCall(() => jwt.sign({}, key, claims));
  const verify = perCall(() => jwt.verify(token, key, checks));
  console.log(`${name.padEnd(10)}  sign ${sign.toFixed(1).padStart(7)} µs  verify ${verify.toFixed(1).padStart(7)} µs`);
}
