"""Create and delete GridLoop's topics with aiokafka's admin client (idempotent)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError, UnknownTopicOrPartitionError

from gridloop.contracts.topics import ALL_TOPICS, dead_letter_topic

DEFAULT_PARTITIONS = 6


def gridloop_topics(prefix: str = "", partitions: int = DEFAULT_PARTITIONS) -> dict[str, int]:
    """Every contract topic and its dead-letter topic, with an optional namespace prefix (e.g. "t1a2b.")."""
    names = [*ALL_TOPICS, *(dead_letter_topic(t) for t in ALL_TOPICS)]
    return {f"{prefix}{name}": partitions for name in names}


async def ensure_topics(
    bootstrap: str,
    topics: Mapping[str, int] | Iterable[str],
    partitions: int = DEFAULT_PARTITIONS,
    *,
    prefix: str = "",
    replicas: int = 1,
) -> list[str]:
    """Create the missing topics (name -> partitions, or names with `partitions` each); return them. With
    replicas > 1 (a cluster), writes need all but one replica in sync (min.insync.replicas)."""
    wanted = dict(topics) if isinstance(topics, Mapping) else dict.fromkeys(topics, partitions)
    wanted = {f"{prefix}{name}": count for name, count in wanted.items()}
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        missing = sorted(set(wanted) - set(await admin.list_topics()))
        if missing:
            response = await admin.create_topics(
                [
                    NewTopic(
                        name,
                        num_partitions=wanted[name],
                        replication_factor=replicas,
                        topic_configs={"min.insync.replicas": str(max(replicas - 1, 1))},
                    )
                    for name in missing
                ]
            )
            _raise_errors(response.topic_errors, ignore=TopicAlreadyExistsError.errno)
        return missing
    finally:
        await admin.close()


async def delete_topics(bootstrap: str, topics: Iterable[str] | None = None, *, prefix: str = "") -> list[str]:
    """Delete the named topics (prefixed), or with topics=None every topic that starts with prefix."""
    if topics is None and not prefix:
        raise ValueError("refusing to delete every topic: pass topic names or a non-empty prefix")
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        names = {n for n in existing if n.startswith(prefix)} if topics is None else {f"{prefix}{t}" for t in topics}
        doomed = sorted(names & existing)
        if doomed:
            response = await admin.delete_topics(doomed)
            _raise_errors(response.topic_error_codes, ignore=UnknownTopicOrPartitionError.errno)
        return doomed
    finally:
        await admin.close()


def _raise_errors(results: Iterable[tuple], *, ignore: int) -> None:
    # Each result is (topic, error_code, ...); error_code 0 is success.
    failed = {r[0]: r[1] for r in results if r[1] not in (0, ignore)}
    if failed:
        raise RuntimeError(f"Kafka admin request failed for {failed} (topic -> error code)")
