"""Peer learning's rule (which recommendation elsewhere is the same advice), without services."""

from services.evaluations.peers import Advice, Match, match

LEIPZIG = Advice("l", "leipzig", "processes", ("FDI", "Venture capital"), ())


def advice(id: str, city: str, dimension: str = "processes", tags: tuple[str, ...] = (), related: tuple[str, ...] = ()) -> Advice:
    return Advice(id, city, dimension, tags, related)


def test_same_dimension_and_a_shared_tag_is_a_peer() -> None:
    assert match(LEIPZIG, advice("m", "manchester", tags=("venture  capital", "media"))) == Match(False, ("Venture capital",))


def test_a_shared_tag_in_another_dimension_is_not() -> None:
    assert match(LEIPZIG, advice("m", "manchester", "objectives", ("FDI",))) is None


def test_the_same_dimension_without_a_shared_tag_is_not() -> None:
    assert match(LEIPZIG, advice("m", "manchester", tags=("branding",))) is None


def test_an_explicit_relation_either_way_is_a_peer_whatever_the_dimension() -> None:
    assert match(LEIPZIG, advice("y", "lyon", "objectives", related=("l",))) == Match(True, ())
    pointing = Advice("l", "leipzig", "processes", (), ("y",))
    assert match(pointing, advice("y", "lyon", "setting")) == Match(True, ())


def test_the_same_city_is_never_its_own_peer() -> None:
    assert match(LEIPZIG, advice("l2", "leipzig", tags=("FDI",), related=("l",))) is None
    assert match(LEIPZIG, LEIPZIG) is None
