// flows.js — the keygen-shaped and sign-shaped flows of PROTOCOL.md §7, run by the kit's
// MpcClient inside the browser. Each flow resolves with {ok, ms, log} or, when the relay does
// not do what the protocol says, {ok: false, expected, actual, log}. Classic script.
"use strict";

class FlowFailure extends Error {
  constructor(expected, actual) {
    super(`Expected: ${expected}\nActual:   ${actual}`);
    this.expected = expected;
    this.actual = actual;
  }
}

// canonical is JSON with object keys sorted: "equal JSON" ignores key order.
function canonical(v) {
  if (Array.isArray(v)) return "[" + v.map(canonical).join(",") + "]";
  if (v !== null && typeof v === "object") {
    return "{" + Object.keys(v).sort().map((k) => JSON.stringify(k) + ":" + canonical(v[k])).join(",") + "}";
  }
  return JSON.stringify(v === undefined ? null : v);
}

function expectEqual(what, got, want) {
  const g = canonical(got), w = canonical(want);
  if (g !== w) throw new FlowFailure(`${what} = ${w}`, g);
}

// Bodies that must arrive as equal JSON (§4.7): non-ASCII text and values JavaScript treats as false.
function body(from, to, round) {
  return { from, to, round, text: "ключ · 鍵 · 🔑", zero: 0, empty: "", no: false, none: null, list: [0, "", false] };
}

// runFlow runs fn(ctx) with a fresh log and turns its outcome into the flow's result.
async function runFlow(timeoutMs, fn) {
  const t0 = performance.now();
  const log = [];
  const conns = [];
  const open = async (url, name) => {
    const c = await MpcClient.connect(url, { name, timeoutMs, log, t0 });
    conns.push(c);
    return c;
  };
  try {
    await fn(open);
    return { ok: true, ms: performance.now() - t0, log };
  } catch (e) {
    if (e instanceof FlowFailure) return { ok: false, expected: e.expected, actual: e.actual, log };
    return { ok: false, expected: "the flow to complete", actual: String(e && e.message || e), log };
  } finally {
    for (const c of conns) c.close();
  }
}

// keygenFlow: 3 parties, threshold 1. A creates the group, B and C join; A creates a keygen
// session (B and C get sessionCreate, §4.3); all sign up (numbers 1, 2, 3; sessionSignup to all,
// §4.5); a broadcast round (§4.7: to every other party) and a peer-to-peer round (to the
// receiver only); all finish and get sessionClosed [1,2,3] (§4.8).
function keygenFlow(url, timeoutMs) {
  return runFlow(timeoutMs, async (open) => {
    const [a, b, c] = [await open(url, "A"), await open(url, "B"), await open(url, "C")];
    const group = await a.call("Group.create", ["browser keygen", { parties: 3, threshold: 1 }]);
    for (const p of [b, c]) expectEqual(`Group.join on ${p.name}: uuid`, (await p.call("Group.join", group)).uuid, group);
    const created = [b, c].map((p) => p.waitEvent("sessionCreate"));
    const session = await a.call("Session.create", [group, "keygen", null]);
    expectEqual("Session.create: kind", session.kind, "keygen");
    const sid = session.uuid;
    for (const ev of await Promise.all(created)) expectEqual("sessionCreate payload uuid", ev.uuid, sid);
    const signedUp = [a, b, c].map((p) => p.waitEvent("sessionSignup", (v) => v === sid));
    const numbers = [await a.call("Session.signup", [group, sid, "keygen"])];
    for (const p of [b, c]) {
      await p.call("Session.join", [group, sid, "keygen"]);
      numbers.push(await p.call("Session.signup", [group, sid, "keygen"]));
    }
    expectEqual("party numbers of A, B, C", numbers, [1, 2, 3]);
    await Promise.all(signedUp);
    const parties = [a, b, c].map((conn, i) => ({ conn, n: numbers[i] }));

    const round1 = parties.map((p) => p.conn.collect("sessionMessage", 2, (m) => m.round === 1));
    for (const p of parties) {
      await p.conn.call("Session.message", [group, sid, "keygen", { round: 1, sender: p.n, receiver: null, uuid: sid, body: body(p.n, null, 1) }]);
    }
    for (const [i, got] of (await Promise.all(round1)).entries()) {
      got.sort((x, y) => x.sender - y.sender);
      const want = parties.filter((q) => q !== parties[i])
        .map((q) => ({ round: 1, sender: q.n, receiver: null, uuid: sid, body: body(q.n, null, 1) }));
      expectEqual(`broadcasts received by ${parties[i].conn.name}`, got, want);
    }

    const round2 = parties.map((p) => p.conn.collect("sessionMessage", 2, (m) => m.round === 2));
    for (const p of parties) {
      for (const q of parties) {
        if (q === p) continue;
        await p.conn.call("Session.message", [group, sid, "keygen", { round: 2, sender: p.n, receiver: q.n, uuid: sid, body: body(p.n, q.n, 2) }]);
      }
    }
    for (const [i, got] of (await Promise.all(round2)).entries()) {
      got.sort((x, y) => x.sender - y.sender);
      const me = parties[i].n;
      const want = parties.filter((q) => q.n !== me)
        .map((q) => ({ round: 2, sender: q.n, receiver: me, uuid: sid, body: body(q.n, me, 2) }));
      expectEqual(`peer-to-peer messages received by ${parties[i].conn.name}`, got, want);
    }

    const closed = parties.map((p) => p.conn.waitEvent("sessionClosed"));
    for (const p of parties) await p.conn.call("Session.finish", [group, sid, p.n]);
    for (const [i, ev] of (await Promise.all(closed)).entries()) {
      expectEqual(`sessionClosed on ${parties[i].conn.name}`, ev, [1, 2, 3]);
    }
  });
}

// signFlow: 2 of 3. A creates a sign session whose value is the message and proposes it
// (Notify.proposal: B and C get notifyProposal, §4.9); C joins the session and reads the value
// (§4.4); A and C sign up (sessionSignup at t+1 = 2 parties, §4.5); they exchange a round
// peer to peer, finish (sessionClosed [1,2]), and A's Notify.signed reaches B, the member that
// did not sign (§4.10).
function signFlow(url, timeoutMs) {
  return runFlow(timeoutMs, async (open) => {
    const [a, b, c] = [await open(url, "A"), await open(url, "B"), await open(url, "C")];
    const message = "6d7063726c6179206272c3b677736572"; // hex of the message to sign
    const group = await a.call("Group.create", ["browser sign", { parties: 3, threshold: 1 }]);
    for (const p of [b, c]) await p.call("Group.join", group);
    const session = await a.call("Session.create", [group, "sign", message]);
    const sid = session.uuid;
    expectEqual("Session.create: value", session.value, message);
    const proposed = [b, c].map((p) => p.waitEvent("notifyProposal"));
    await a.call("Notify.proposal", [group, sid, "proposal-1", message]);
    for (const ev of await Promise.all(proposed)) {
      expectEqual("notifyProposal payload", ev, { sessionId: sid, proposalId: "proposal-1", message });
    }
    expectEqual("Session.join on C: value", (await c.call("Session.join", [group, sid, "sign"])).value, message);
    const signedUp = [a, c].map((p) => p.waitEvent("sessionSignup", (v) => v === sid));
    const na = await a.call("Session.signup", [group, sid, "sign"]);
    const nc = await c.call("Session.signup", [group, sid, "sign"]);
    expectEqual("party numbers of A, C", [na, nc], [1, 2]);
    await Promise.all(signedUp);

    const atA = a.waitEvent("sessionMessage"), atC = c.waitEvent("sessionMessage");
    await a.call("Session.message", [group, sid, "sign", { round: 1, sender: na, receiver: nc, uuid: sid, body: body(na, nc, 1) }]);
    await c.call("Session.message", [group, sid, "sign", { round: 1, sender: nc, receiver: na, uuid: sid, body: body(nc, na, 1) }]);
    expectEqual("message received by C", await atC, { round: 1, sender: na, receiver: nc, uuid: sid, body: body(na, nc, 1) });
    expectEqual("message received by A", await atA, { round: 1, sender: nc, receiver: na, uuid: sid, body: body(nc, na, 1) });

    const closed = [a, c].map((p) => p.waitEvent("sessionClosed"));
    await a.call("Session.finish", [group, sid, na]);
    await c.call("Session.finish", [group, sid, nc]);
    for (const ev of await Promise.all(closed)) expectEqual("sessionClosed payload", ev, [1, 2]);

    const signed = b.waitEvent("notifySigned");
    const value = { signature: "30440220…", message };
    await a.call("Notify.signed", [group, sid, value]);
    expectEqual("notifySigned payload on B", await signed, value);
  });
}

// probeOpen opens one WebSocket and reports whether it opened (for the origin case).
async function probeOpen(url, timeoutMs) {
  const c = new MpcClient(url, { name: "X", timeoutMs });
  try {
    await withTimeout(c.opened, timeoutMs, `WebSocket ${url} open`);
    c.close();
    return { opened: true };
  } catch (e) {
    return { opened: false, why: String(e.message) };
  }
}

// isolation reports what a page served with COOP/COEP gets: crossOriginIsolated (true only
// when both headers are right) and the two headers of the page itself.
async function isolation() {
  const r = await fetch(location.href, { cache: "no-store" });
  return {
    crossOriginIsolated: self.crossOriginIsolated === true,
    coop: r.headers.get("Cross-Origin-Opener-Policy"),
    coep: r.headers.get("Cross-Origin-Embedder-Policy"),
  };
}
