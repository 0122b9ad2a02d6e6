"""A loopback stub of the Hugging Face Hub HTTP API for push tests."""

from tests.fake_hub.server import Commit, FakeHub, Repo

__all__ = ["Commit", "FakeHub", "Repo"]
