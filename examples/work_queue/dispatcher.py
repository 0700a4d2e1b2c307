"""The work queue: a plain object served by a daemon. Clients put work in and take results out;
workers pull work and hand results back. Its `get_*` methods wait (bounded) for something to
arrive, so nobody polls in a tight loop; the daemon runs such waiting calls on its worker
threads, so a waiting worker never holds up anybody else's call."""

import queue

import zpyro


@zpyro.expose
@zpyro.behavior(instance_mode="single")  # one queue for every client and worker
class WorkQueue:
    def __init__(self):
        self.work = queue.Queue()
        self.results = queue.Queue()
        self._closed = False

    def put_work(self, item_id, data):
        if self._closed:
            raise RuntimeError("the work queue is closed")
        self.work.put((item_id, data))

    def get_work(self, timeout=1.0):
        """The next (item_id, data), or None when none came within `timeout` seconds."""
        try:
            return self.work.get(timeout=timeout)
        except queue.Empty:
            return None

    def put_result(self, item_id, worker, result):
        self.results.put((item_id, worker, result))

    def get_result(self, timeout=5.0):
        """The next (item_id, worker, result), or None after `timeout` seconds."""
        try:
            return self.results.get(timeout=timeout)
        except queue.Empty:
            return None

    def close(self):
        """No more work: workers stop once the queue is empty."""
        self._closed = True

    @property
    def closed(self):
        return self._closed and self.work.empty()


def main():
    with zpyro.Daemon() as daemon:  # host: ZPYRO_HOST (run.py sets the loopback address)
        print("work queue uri:", daemon.register(WorkQueue, "example.workqueue"), flush=True)
        daemon.request_loop()


if __name__ == "__main__":
    main()
