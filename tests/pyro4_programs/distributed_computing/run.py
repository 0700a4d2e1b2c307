"""Distributed computing with a work queue (Pyro4 "distributed-computing"): a dispatcher
process holds a queue; two worker processes take work items and put back results; the client
hands out the work and collects the results. Work items are a custom class, converted with
SerializerBase.register_class_to_dict / register_dict_to_class in every process.

Run without arguments; it starts itself as "dispatcher" and "worker" in other processes."""

import queue
import signal
import subprocess
import sys

import Pyro4
import Pyro4.util


def give_up(signum, frame):
    raise SystemExit("timed out")


signal.signal(signal.SIGALRM, give_up)
signal.alarm(60)


class WorkItem(object):
    def __init__(self, item_id, number):
        self.item_id = item_id
        self.number = number
        self.result = None
        self.processed_by = None


def workitem_to_dict(item):
    return dict(vars(item), __class__="example.WorkItem")


def dict_to_workitem(classname, d):
    item = WorkItem(d["item_id"], d["number"])
    item.result, item.processed_by = d["result"], d["processed_by"]
    return item


Pyro4.util.SerializerBase.register_class_to_dict(WorkItem, workitem_to_dict)
Pyro4.util.SerializerBase.register_dict_to_class("example.WorkItem", dict_to_workitem)


@Pyro4.expose
@Pyro4.behavior(instance_mode="single")
class Dispatcher(object):
    def __init__(self):
        self.work = queue.Queue()
        self.results = queue.Queue()

    def put_work(self, item):
        self.work.put(item)

    def get_work(self, timeout=5):
        try:
            return self.work.get(block=True, timeout=timeout)
        except queue.Empty:
            return None

    def put_result(self, item):
        self.results.put(item)

    def get_result(self, timeout=5):
        try:
            return self.results.get(block=True, timeout=timeout)
        except queue.Empty:
            return None


def factorize(n):
    factors, divisor = [], 2
    while n > 1:
        while n % divisor == 0:
            factors.append(divisor)
            n //= divisor
        divisor += 1
    return factors


def dispatcher_main():
    daemon = Pyro4.Daemon(host="127.0.0.1")
    print("uri:", daemon.register(Dispatcher, "example.dispatcher"), flush=True)
    daemon.requestLoop()


def worker_main(name, uri):
    with Pyro4.Proxy(uri) as dispatcher:
        while True:
            item = dispatcher.get_work()
            if item is None or item.number < 0:  # nothing to do, or the stop sign
                break
            item.result = factorize(item.number)
            item.processed_by = name
            dispatcher.put_result(item)


def client_main():
    started = []
    try:
        dispatcher_proc = subprocess.Popen(
            [sys.executable, "-u", __file__, "dispatcher"], stdout=subprocess.PIPE, text=True
        )
        started.append(dispatcher_proc)
        line = dispatcher_proc.stdout.readline()
        if not line.startswith("uri:"):
            raise SystemExit("dispatcher did not start: %r" % line)
        uri = line.split()[1]
        workers = [
            subprocess.Popen([sys.executable, __file__, "worker", "worker-%d" % n, uri])
            for n in (1, 2)
        ]
        started.extend(workers)
        numbers = list(range(1000, 1040))
        with Pyro4.Proxy(uri) as dispatcher:
            for item_id, number in enumerate(numbers):
                dispatcher.put_work(WorkItem(item_id, number))
            results = {}
            while len(results) < len(numbers):
                item = dispatcher.get_result()
                if item is None:
                    raise SystemExit(
                        "results stopped coming: %d of %d" % (len(results), len(numbers))
                    )
                results[item.item_id] = item
            for _ in workers:
                dispatcher.put_work(WorkItem(-1, -1))
        for worker in workers:
            assert worker.wait(20) == 0
        for item_id, number in enumerate(numbers):
            assert results[item_id].result == factorize(number)
        by = sorted({item.processed_by for item in results.values()})
        print("processed by:", by)
    finally:
        for proc in started:
            if proc.poll() is None:
                proc.terminate()
                proc.wait(10)


if __name__ == "__main__":
    if sys.argv[1:] == ["dispatcher"]:
        dispatcher_main()
    elif sys.argv[1:2] == ["worker"]:
        worker_main(sys.argv[2], sys.argv[3])
    else:
        client_main()
        print("OK")
