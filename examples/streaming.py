"""Streaming: a remote generator becomes a local iterator.

When a remote method returns a generator (or any iterator), the caller gets an iterator that
fetches the items lazily, a chunk at a time, while the generator keeps its place in the server.
So a method can stream more data than fits in one reply, or even an endless sequence. Closing
the iterator (or dropping it) frees the generator in the server.
"""

import itertools
import threading

import zpyro


@zpyro.expose
class Streamer:
    def __init__(self):
        self.fibonacci_closed = threading.Event()

    def squares(self, n):
        for i in range(n):
            yield i * i

    def words(self, text):
        return iter(text.split())  # any iterator streams, not just generators

    def fibonacci(self):  # endless: it could never be sent as one list
        a, b = 0, 1
        try:
            while True:
                yield a
                a, b = b, a + b
        finally:
            self.fibonacci_closed.set()  # runs when the client closes its iterator

    def was_fibonacci_closed(self, timeout):
        return self.fibonacci_closed.wait(timeout)


def main():
    daemon = zpyro.Daemon(host="127.0.0.1")
    uri = daemon.register(Streamer(), "example.streamer")
    thread = threading.Thread(target=daemon.request_loop)
    thread.start()
    try:
        with zpyro.Proxy(uri) as streamer:
            squares = streamer.squares(10)
            print("squares(10) returned a", type(squares).__name__)
            print("squares:", list(squares))
            print("words:", list(streamer.words("the quick brown fox")))

            total = sum(streamer.squares(10_000))  # 10,000 items, fetched in chunks
            print("sum of 10,000 squares:", total)

            fibonacci = streamer.fibonacci()
            print("first 15 fibonacci numbers:", list(itertools.islice(fibonacci, 15)))
            fibonacci.close()  # frees the endless generator in the server
            print("server generator closed:", streamer.was_fibonacci_closed(2.0))
    finally:
        daemon.shutdown()
        thread.join(5)
        daemon.close()


if __name__ == "__main__":
    main()
