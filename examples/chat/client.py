"""A chat member: runs a daemon of its own for its listener (the callback object), joins the
lobby through the name server, waits for "go" on stdin, says two things, waits until it has
heard everyone who talks, and leaves on "bye".

    client.py NICK TALKERS    (TALKERS: how many members will say their two things)
"""

import sys
import threading

import zpyro

CHANNEL = "lobby"
_print_lock = threading.Lock()  # callbacks print from the daemon's threads: whole lines only


def say(line):
    with _print_lock:
        print(line, flush=True)


@zpyro.expose
class Listener:
    def __init__(self, nick):
        self.nick = nick
        self.chat = []  # what members said (not the server's notices)
        self.changed = threading.Condition()

    @zpyro.oneway
    @zpyro.callback  # an error in here is logged here too, not only raised in the chat server
    def message(self, channel, nick, text):
        say(f"{self.nick} heard [{nick}] {text}")
        if nick != "server":
            with self.changed:
                self.chat.append((nick, text))
                self.changed.notify_all()

    def wait_for(self, count, timeout):
        with self.changed:
            return self.changed.wait_for(lambda: len(self.chat) >= count, timeout)


def main():
    nick, talkers = sys.argv[1], int(sys.argv[2])
    listener = Listener(nick)
    with zpyro.Daemon() as daemon:  # the member's own daemon: the chat box calls into it
        daemon.register(listener, f"chat.member.{nick}")
        threading.Thread(target=daemon.request_loop, daemon=True).start()
        with zpyro.Proxy("PYRONAME:example.chat.box") as chatbox:
            members = chatbox.join(CHANNEL, nick, daemon.proxy_for(listener))
            say(f"{nick} joined {CHANNEL}, members: {', '.join(members)}")
            sys.stdin.readline()  # "go"
            for number in (1, 2):
                chatbox.publish(CHANNEL, nick, f"hello from {nick} #{number}")
            if listener.wait_for(2 * talkers, timeout=20):
                say(f"{nick} heard {len(listener.chat)} chat messages")
            sys.stdin.readline()  # "bye"
            chatbox.leave(CHANNEL, nick)
        daemon.shutdown()
    say(f"{nick} left")


if __name__ == "__main__":
    main()
