// An Express service with both of the logins authscale compares, each
// built from the framework's own parts, not authscale's:
//
//   session  POST /session/login   JSON {username, password}; express-session
//                                  issues the cookie `sid`, the session lives
//                                  in Redis (connect-redis), every request
//                                  reads it back
//            GET  /session/profile 200 with the user, 401 without a session
//            POST /session/logout  destroys the session in Redis
//   token    POST /token/login     JSON {username, password}; answers
//                                  {"access_token": JWT} (jsonwebtoken, HS256,
//                                  iss/aud/exp 15 min)
//            GET  /token/profile   Authorization: Bearer; verified by each
//                                  instance alone (algorithm, iss, aud, exp)
//   GET /healthz   200 once Redis is reachable
//   GET /metrics   prom-client's default metrics (process_cpu_seconds_total
//                  among them), for authscale's external sweeps
//
// Users: users.csv beside this file (user,password).
// Usage: node app.js PORT   (env: REDIS_URL [redis://127.0.0.1:6379],
//        SESSION_SECRET and JWT_SECRET, 32 bytes or more; ALLOW_DEMO_SECRETS=1
//        uses the published demo values instead, for a local try)
// Prints "listening on 127.0.0.1:PORT" when ready.

import { readFileSync } from "node:fs";
import { createSecretKey, timingSafeEqual } from "node:crypto";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

import express from "express";
import session from "express-session";
import { RedisStore } from "connect-redis";
import { createClient } from "redis";
import jwt from "jsonwebtoken";
import client from "prom-client";

const here = dirname(fileURLToPath(import.meta.url));
const port = Number(process.argv[2] ?? 0);
const redisUrl = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";
const ISSUER = "express-app";
const AUDIENCE = "express-app-api";

function secret(name, demo) {
  const value = process.env[name];
  if (value && Buffer.byteLength(value) >= 32) return value;
  if (value) {
    console.error(`${name} must be 32 bytes or more`);
    process.exit(2);
  }
  // The demo values are in this file for anyone to read: only on request.
  if (process.env.ALLOW_DEMO_SECRETS !== "1") {
    console.error(`${name} is not set (32 bytes or more); ALLOW_DEMO_SECRETS=1 uses a published demo value, for a local try only`);
    process.exit(2);
  }
  console.error(`warning: ${name} not set: the published demo value is used (never beyond a local try)`);
  return demo;
}
const sessionSecret = secret("SESSION_SECRET", "express-app-demo-session-secret-0123456789");
const jwtSecret = secret("JWT_SECRET", "express-app-demo-jwt-secret-0123456789abcdef");
// The key as a KeyObject, made once. Given as a string, jsonwebtoken makes
// a KeyObject on every sign and verify, and on Node 20 (OpenSSL 3) that
// costs ~400 µs a call against ~8 µs (bench-jwt.mjs); JWT_SECRET_AS_STRING=1
// keeps the string, to measure what that costs a deployment.
const jwtKey = process.env.JWT_SECRET_AS_STRING === "1" ? jwtSecret : createSecretKey(Buffer.from(jwtSecret));

// user -> password, from users.csv (a header line, then user,password).
const users = new Map(
  readFileSync(join(here, "users.csv"), "utf8")
    .split(/\r?\n/)
    .slice(1)
    .filter((line) => line.includes(","))
    .map((line) => line.split(",", 2)),
);

function checkPassword(body) {
  const user = typeof body?.username === "string" ? body.username : "";
  const given = Buffer.from(typeof body?.password === "string" ? body.password : "");
  const known = Buffer.from(users.get(user) ?? "");
  const same = known.length > 0 && given.length === known.length && timingSafeEqual(given, known);
  return same ? user : null;
}

client.collectDefaultMetrics();

// Commands fail at once while Redis is unreachable (instead of queueing
// until it is back): /healthz answers 503 and a request that needs the
// session store fails rather than hanging.
const redis = createClient({ url: redisUrl, disableOfflineQueue: true });
redis.on("error", (e) => console.error(`redis: ${e.message}`));
await redis.connect();

const app = express();
app.disable("x-powered-by");
app.use(express.json({ limit: "4kb" }));

const sessions = session({
  name: "sid",
  store: new RedisStore({ client: redis, prefix: "sess:" }),
  secret: sessionSecret,
  resave: false,
  saveUninitialized: false,
  cookie: { httpOnly: true, sameSite: "lax", maxAge: 15 * 60 * 1000 },
});

app.post("/session/login", sessions, (req, res, next) => {
  const user = checkPassword(req.body);
  if (!user) return res.status(401).json({ error: "wrong user or password" });
  // A new id at login (no session fixation), then the user in it.
  req.session.regenerate((err) => {
    if (err) return next(err);
    req.session.user = user;
    req.session.save((err) => (err ? next(err) : res.json({ user })));
  });
});

app.get("/session/profile", sessions, (req, res) => {
  if (!req.session.user) return res.status(401).json({ error: "no session" });
  res.json({ user: req.session.user });
});

app.post("/session/logout", sessions, (req, res, next) => {
  req.session.destroy((err) => {
    if (err) return next(err);
    res.clearCookie("sid", { httpOnly: true, sameSite: "lax" });
    res.status(204).end();
  });
});

app.post("/token/login", (req, res) => {
  const user = checkPassword(req.body);
  if (!user) return res.status(401).json({ error: "wrong user or password" });
  const token = jwt.sign({}, jwtKey, {
    algorithm: "HS256",
    subject: user,
    issuer: ISSUER,
    audience: AUDIENCE,
    expiresIn: "15m",
  });
  res.json({ access_token: token, token_type: "Bearer" });
});

app.get("/token/profile", (req, res) => {
  const [scheme, token] = (req.get("authorization") ?? "").split(" ");
  if (scheme !== "Bearer" || !token) return res.status(401).json({ error: "no bearer token" });
  try {
    const claims = jwt.verify(token, jwtKey, {
      algorithms: ["HS256"],
      issuer: ISSUER,
      audience: AUDIENCE,
    });
    res.json({ user: claims.sub });
  } catch {
    res.status(401).json({ error: "invalid token" });
  }
});

app.get("/healthz", async (_req, res) => {
  try {
    await redis.ping();
    res.send("ok");
  } catch {
    res.status(503).send("redis unreachable");
  }
});

app.get("/metrics", async (_req, res) => {
  res.type(client.register.contentType).send(await client.register.metrics());
});

// Malformed JSON and other client errors: a 4xx with a reason, never a 500.
app.use((err, _req, res, _next) => {
  if (err.status >= 400 && err.status < 500) return res.status(err.status).json({ error: err.message });
  // The session store being away is the service's state, said as such.
  if (!redis.isReady) return res.status(503).json({ error: "session store unreachable" });
  console.error(err);
  res.status(500).json({ error: "internal error" });
});

const server = app.listen(port, "127.0.0.1", () => {
  console.log(`listening on 127.0.0.1:${server.address().port}`);
});
server.keepAliveTimeout = 65_000;

for (const signal of ["SIGTERM", "SIGINT"]) {
  process.on(signal, () => {
    server.close();
    redis.quit().finally(() => process.exit(0));
  });
}
