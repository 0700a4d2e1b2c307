"""A worker: pulls numbers from the work queue, factorises them, hands the factors back, and
stops when the queue is closed and empty.

    worker.py QUEUE_URI NAME
"""

import sys

import zpyro


def factorise(n):
    factors, divisor = [], 2
    while divisor * divisor <= n:
        while n % divisor == 0:
            factors.append(divisor)
            n //= divisor
        divisor += 1
    if n > 1:
        factors.append(n)
    return factors


def main():
    uri, name = sys.argv[1], sys.argv[2]
    done = 0
    with zpyro.Proxy(uri) as work_queue:
        while True:
            item = work_queue.get_work(1.0)  # waits in the queue's process, not here
            if item is None:
                if work_queue.closed:
                    break
                continue
            item_id, number = item
            work_queue.put_result(item_id, name, factorise(number))
            done += 1
    print(f"{name} stopped after {done} items", flush=True)


if __name__ == "__main__":
    main()
