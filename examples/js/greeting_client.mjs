// The greeting client from Pyro's intro, in Node.js: asks for the uri and your name, calls the
// server (Python's examples/greeting/server.py, or greeting_server.mjs here).
// In your own project: import { Proxy } from "zpyro";
import { createInterface } from "node:readline/promises";
import { Proxy } from "../../clients/js/src/index.js";

const rl = createInterface({ input: process.stdin, output: process.stdout, terminal: false });
const lines = rl[Symbol.asyncIterator]();
const ask = async (question) => {
  process.stdout.write(question);
  return ((await lines.next()).value ?? "").trim();
};
const uri = await ask("What is the zpyro uri of the greeting object? ");
const name = await ask("What is your name? ");
rl.close();

const greetingMaker = await Proxy.connect(uri); // get a proxy to the greeting object
console.log(await greetingMaker.get_fortune(name)); // call method normally
await greetingMaker.close();
