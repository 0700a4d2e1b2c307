// The greeting server from Pyro's intro, in Node.js: a zpyro Daemon that Python's
// examples/greeting/client.py (a default zpyro proxy) or greeting_client.mjs can call.
// In your own project: import { Daemon } from "zpyro";
import { Daemon } from "../../clients/js/src/index.js";

class GreetingMaker {
  get_fortune(name) {
    return `Hello, ${name}. Here is your fortune message:\nTomorrow's lucky number is 12345678.`;
  }
}

const daemon = new Daemon({ host: process.env.ZPYRO_HOST || "localhost" }); // tcp, random port
await daemon.start();
const uri = daemon.register(new GreetingMaker()); // register the greeting maker as a zpyro object
console.log("Ready. Object uri =", String(uri)); // print the uri so we can use it in the client

const stop = async () => {
  await daemon.close();
  process.exit(0);
};
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
process.stdin.on("end", stop).resume(); // also stop when whoever started us closes our stdin
