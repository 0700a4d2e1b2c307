"""Chat with callbacks (Pyro4 "chatbox", the message bus style): two clients, each with its own
daemon serving a callback object, join a channel; what one publishes reaches both."""

import signal
import subprocess
import sys
import threading
from pathlib import Path

import Pyro4


def give_up(signum, frame):
    raise SystemExit("timed out")


signal.signal(signal.SIGALRM, give_up)
signal.alarm(60)


class ChatClient(object):
    def __init__(self, nick):
        self.nick = nick
        self.heard = []
        self.changed = threading.Condition()

    @Pyro4.expose
    @Pyro4.oneway
    def message(self, nick, text):
        with self.changed:
            self.heard.append((nick, text))
            self.changed.notify_all()

    def wait_for(self, entry):
        with self.changed:
            if not self.changed.wait_for(lambda: entry in self.heard, timeout=20):
                raise SystemExit("%s never heard %r; heard %r" % (self.nick, entry, self.heard))


server = subprocess.Popen(
    [sys.executable, "-u", str(Path(__file__).with_name("server.py"))],
    stdout=subprocess.PIPE,
    text=True,
)
daemons = []
try:
    line = server.stdout.readline()
    if not line.startswith("uri:"):
        raise SystemExit("server did not start: %r" % line)
    chatbox_uri = line.split()[1]
    clients = [ChatClient("alice"), ChatClient("bob")]
    for client in clients:
        daemon = Pyro4.Daemon(host="127.0.0.1")
        daemons.append(daemon)
        callback_uri = daemon.register(client)
        threading.Thread(target=daemon.requestLoop, daemon=True).start()
        client.box = Pyro4.Proxy(chatbox_uri)
        client.box.join("lobby", client.nick, Pyro4.Proxy(callback_uri))
    alice, bob = clients
    alice.wait_for(("SERVER", "** bob joined **"))
    alice.box.publish("lobby", "alice", "hello bob")
    bob.box.publish("lobby", "bob", "hi alice")
    for client in clients:
        client.wait_for(("alice", "hello bob"))
        client.wait_for(("bob", "hi alice"))
    bob.box.leave("lobby", "bob")
    alice.wait_for(("SERVER", "** bob left **"))
    print("alice heard:", alice.heard)
finally:
    for daemon in daemons:
        daemon.shutdown()
    server.terminate()
    server.wait(10)
print("OK")
