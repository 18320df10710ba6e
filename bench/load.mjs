// A load generator in a process of its own, so that the one measuring is not what is measured:
//   node bench/load.mjs <url> <count> <clients> <kind: customers|packages> <tag> [acks]
// POSTs `count` bodies from `clients` concurrent clients; prints {"perSecond", "firstAt", "lastAt", "cpuMs"} (Unix ms
// of the first request and of the last answer, and the CPU this process spent on the load), and with `acks` also
// "acks": [[id, Unix ms of its 201], ...].
const [url, count, clients, kind, tag, withAcks] = process.argv.slice(2);
const total = Number(count);
let next = 0;
let lastAt = 0;
const acks = [];
const body = (i) =>
  kind === 'customers'
    ? { name: `${tag} ${i}`, email: `${tag}-${i}@example.com` }
    : { customerId: i, customerName: `${tag} ${i}` };
const firstAt = Date.now();
const started = performance.now();
const cpuBefore = process.cpuUsage();
await Promise.all(
  Array.from({ length: Number(clients) }, async () => {
    for (let i = ++next; i <= total; i = ++next) {
      const response = await fetch(url, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify(body(i)),
      });
      const answer = withAcks ? await response.json() : await response.arrayBuffer();
      if (response.status !== 201) throw new Error(`${url} answered ${response.status}`);
      lastAt = Date.now();
      if (withAcks) acks.push([answer.id, lastAt]);
    }
  }),
);
const perSecond = total / ((performance.now() - started) / 1000);
const cpu = process.cpuUsage(cpuBefore);
const cpuMs = (cpu.user + cpu.system) / 1000;
process.stdout.write(JSON.stringify({ perSecond, firstAt, lastAt, cpuMs, ...(withAcks ? { acks } : {}) }));
