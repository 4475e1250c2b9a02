// Shared by the client's tests: every wait has a deadline.

/** Every wait in these tests: long enough for a slow machine, short enough to fail fast. */
export const WAIT_MS = 10_000;

/** `promise`, or a rejection naming `what` after `ms`. */
export function within(promise, what, ms = WAIT_MS) {
  let timer;
  const deadline = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}

/** The next `event` of `client` matching `pred`. */
export function nextEvent(client, event, pred = () => true, ms = WAIT_MS) {
  return within(
    new Promise((resolve) => {
      const off = client.onEvent(event, (ev) => {
        if (pred(ev)) {
          off();
          resolve(ev);
        }
      });
    }),
    `the client's "${event}" event`,
    ms,
  );
}

/** Collects the data of every push of `cmd`; `.next(n)` waits until n have arrived. */
export function collect(client, cmd) {
  const got = [];
  const waiters = [];
  client.on(cmd, (data) => {
    got.push(data);
    for (const w of [...waiters]) if (got.length >= w.n) w.resolve(got.slice());
  });
  return {
    got,
    next(n, ms = WAIT_MS) {
      if (got.length >= n) return Promise.resolve(got.slice());
      return within(new Promise((resolve) => waiters.push({ n, resolve })), `${n} "${cmd}" pushes (have ${got.length})`, ms);
    },
  };
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
