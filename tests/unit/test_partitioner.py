"""Our partitioner puts every key where aiokafka's (and so Kafka's Java client) would: the outbox
relay picks partitions itself, and a key's events must all land on one partition, in order."""

import random
import uuid

from aiokafka.partitioner import DefaultPartitioner

from shared.platform.kafka import KeyPartitioner, partition_of


def test_the_partition_of_a_key_is_kafkas_default_one() -> None:
    theirs, ours = DefaultPartitioner(), KeyPartitioner()
    rng = random.Random(7)
    keys = [str(uuid.UUID(int=rng.getrandbits(128))).encode() for _ in range(5000)]
    keys += [rng.randbytes(rng.randint(0, 64)) for _ in range(5000)]  # every tail length of the hash
    for count in (1, 2, 3, 6, 12, 50):
        partitions = list(range(count))
        expected = [theirs(key, partitions, partitions) for key in keys]
        assert [partition_of(key, partitions) for key in keys] == expected
        assert [ours(key, partitions, partitions) for key in keys] == expected
    assert len({partition_of(key, list(range(12))) for key in keys}) == 12, "keys spread over every partition"


def test_an_unkeyed_message_goes_to_an_available_partition() -> None:
    assert KeyPartitioner()(None, [0, 1, 2], [2]) == 2
