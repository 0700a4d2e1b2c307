// Settings with the same names and ZPYRO_* environment variables as zpyro's Python config.

function env(name, fallback, convert = String) {
  const text = process.env[`ZPYRO_${name}`];
  return text === undefined || text === "" ? fallback : convert(text);
}

export const config = {
  NS_HOST: env("NS_HOST", "localhost"),
  NS_PORT: env("NS_PORT", 9090, Number),
  HOST: env("HOST", "localhost"),
  SERIALIZER: env("JS_SERIALIZER", "msgpack"), // Python's SERIALIZER defaults to serpent, which JS lacks
  COMMTIMEOUT: env("COMMTIMEOUT", 0, Number), // seconds; 0 = no limit
  CONNECT_TIMEOUT: env("CONNECT_TIMEOUT", 5, Number),
  MAX_MESSAGE_SIZE: env("MAX_MESSAGE_SIZE", 1073741824, Number),
  OOB_THRESHOLD: env("OOB_THRESHOLD", 32768, Number),
  HEARTBEAT_INTERVAL: env("HEARTBEAT_INTERVAL", 1, Number),
  HEARTBEAT_TIMEOUT: env("HEARTBEAT_TIMEOUT", 5, Number),
  MAX_PENDING_CALLS: env("MAX_PENDING_CALLS", 100000, Number),
  CURVE_SECRET_KEY: env("CURVE_SECRET_KEY", ""),
  CURVE_SERVER_PUBLIC_KEY: env("CURVE_SERVER_PUBLIC_KEY", ""),
  ITER_STREAM_LINGER: env("ITER_STREAM_LINGER", 30, Number),
};

/** ZMTP heartbeat options for a zeromq.js socket. */
export function heartbeatOptions() {
  const interval = config.HEARTBEAT_INTERVAL;
  if (!(interval > 0)) return {};
  const timeout = Math.round(config.HEARTBEAT_TIMEOUT * 1000);
  return { heartbeatInterval: Math.round(interval * 1000), heartbeatTimeout: timeout, heartbeatTimeToLive: timeout };
}
