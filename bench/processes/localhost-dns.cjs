// Queue URLs name `sqs.<region>.localhost` (fauxqs); *.localhost is loopback (RFC 6761), but the
// system resolver here may not know it. Required for its effect: only such names are touched.
const dns = require('node:dns');

const systemLookup = dns.lookup;
dns.lookup = function lookup(hostname, options, callback) {
  const done = typeof options === 'function' ? options : callback;
  if (typeof hostname === 'string' && /\.localhost\.?$/i.test(hostname)) {
    const all = typeof options === 'object' && options !== null && options.all;
    process.nextTick(() => (all ? done(null, [{ address: '127.0.0.1', family: 4 }]) : done(null, '127.0.0.1', 4)));
    return {};
  }
  return systemLookup.call(dns, hostname, options, callback);
};
