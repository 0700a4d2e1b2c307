// CURVE key files as zpyro-keygen (pyzmq) writes them: NAME.key (public) and NAME.key_secret.
// The cryptography is libzmq's; this only reads keys and sets socket options.

import { existsSync, readFileSync } from "node:fs";
import { curveKeyPair } from "zeromq";
import { SecurityError } from "./errors.js";

function readKeys(path) {
  let text;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    throw new SecurityError(`cannot read CURVE key file '${path}': ${err.message}`);
  }
  const pick = (name) => new RegExp(`^\\s*${name}\\s*=\\s*"([^"]{40})"`, "m").exec(text)?.[1] ?? null;
  return { publicKey: pick("public-key"), secretKey: pick("secret-key") };
}

/** A public key given as its 40 z85 characters or as a key file. */
export function loadPublicKey(keyOrPath) {
  const text = String(keyOrPath).trim();
  if (text.length === 40 && !existsSync(text)) return text;
  const { publicKey } = readKeys(text);
  if (!publicKey) throw new SecurityError(`'${text}' holds no CURVE public key`);
  return publicKey;
}

/** {publicKey, secretKey} from a .key_secret file. */
export function loadKeyPair(path) {
  const keys = readKeys(path);
  if (!keys.secretKey || !keys.publicKey) {
    throw new SecurityError(`'${path}' holds no secret key (use the .key_secret file)`);
  }
  return keys;
}

let ephemeral = null;

/** Socket options that make a client talk CURVE to the server with public key `serverKey`. */
export function clientCurveOptions(serverKey, secretFile) {
  let own;
  if (secretFile) own = loadKeyPair(secretFile);
  else {
    ephemeral ??= curveKeyPair();
    own = ephemeral;
  }
  return { curveServerKey: serverKey, curvePublicKey: own.publicKey, curveSecretKey: own.secretKey };
}
