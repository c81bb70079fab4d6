"""Game copies stepped in worker processes, so that play uses every core.

A symbolic policy costs microseconds; a step of its game costs the emulator's step and, above all,
the detector's reading of the new frame (1.2-2.6 ms on a 210x160 Atari screen). ``WorkerCopies``
deals the copies to ``n_jobs`` processes, each stepping its own and running ``observe`` (the
perception's ``detect``) on their frames, so the detector runs on every core while the main
process tracks objects and evaluates programs. Its output reaches the caller in each frame's
``info[OBSERVED]``. A worker holds one emulator per copy; stable-retro allows one per process, so a
retro game gets a worker per copy.

``copies_for`` is the one place that chooses: the copies in this process (``envs.play.EnvCopies``)
or in workers. Which copy plays what, and so every return, does not depend on it (tested).
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import sys
from collections.abc import Callable, Sequence
from multiprocessing.connection import Connection

import numpy as np

from common.devices import cores
from envs.config import EnvConfig
from envs.play import EnvCopies, Step

OBSERVED = "observed"  # info key of what ``observe`` made of that frame
Observe = Callable[[np.ndarray, list[dict]], list]


def copies_for(env_cfg: EnvConfig, copies: int, observe: Observe | None = None) -> EnvCopies | WorkerCopies:
    """``copies`` of the game: in ``env.n_jobs`` worker processes where that is more than one (or
    the game is a retro game), else in this process."""
    from envs import env_kind

    workers = min(cores(env_cfg.n_jobs), copies)
    if env_kind(env_cfg.id) == "retro":
        workers = copies
    if workers <= 1:
        return EnvCopies(env_cfg, copies)
    return WorkerCopies(env_cfg, copies, workers, observe)


def _serve(conn: Connection, env_cfg: EnvConfig, copies: int, observe: Observe | None) -> None:
    """A worker: its copies of the game (``EnvCopies``); answers ("reset", (locals, seeds)) with
    (frames, infos) and ("step", (locals, actions)) with a ``Step``, until ("close", None)."""
    if "torch" in sys.modules:  # a learned detector: one thread each, the workers share the cores
        sys.modules["torch"].set_num_threads(1)
    envs = EnvCopies(env_cfg, copies)
    try:
        while True:
            command, (local, values) = conn.recv()
            if command == "close":
                break
            if command == "reset":
                out = frames, infos = envs.reset(local, values)
            else:
                out = envs.step(local, values)
                frames, infos = out.frames, out.infos
            if observe is not None and frames:
                for info, seen in zip(infos, observe(np.stack(frames), infos), strict=True):
                    info[OBSERVED] = seen
            conn.send(out)
    finally:
        envs.close()
        conn.close()


class WorkerCopies:
    """``EnvCopies`` in ``workers`` processes: copy c lives in worker c % workers. ``reset`` and
    ``step`` send every worker its share first and then collect, so the workers run side by side."""

    def __init__(self, env_cfg: EnvConfig, copies: int, workers: int, observe: Observe | None = None):
        # forkserver: workers start from a clean process, never from a parent holding torch's threads;
        # it imports the game stack once, so each worker starts in a fork, not in a fresh interpreter
        context = mp.get_context("forkserver")
        context.set_forkserver_preload(["envs", "space.sources"])
        self.workers = workers
        self.n_copies = copies
        self.steps = 0  # environment steps taken, for reports
        self.conns: list[Connection] = []
        self.processes = []
        for w in range(workers):
            parent, child = context.Pipe()
            process = context.Process(target=_serve, args=(child, env_cfg, len(range(w, copies, workers)),
                                                           observe), daemon=True)
            process.start()
            child.close()
            self.conns.append(parent)
            self.processes.append(process)

    def __len__(self) -> int:
        return self.n_copies

    def _call(self, command: str, copies: Sequence[int], values: Sequence) -> list[tuple[np.ndarray, object]]:
        """Send each worker its share of ``copies`` and ``values``; (rows of ``copies``, answer) per
        worker that had a share."""
        copies = np.asarray(copies, dtype=np.int64)
        shares = [(w, np.flatnonzero(copies % self.workers == w)) for w in range(self.workers)]
        shares = [(w, rows) for w, rows in shares if len(rows)]
        for w, rows in shares:
            with self._alive(w):
                self.conns[w].send((command, ((copies[rows] // self.workers).tolist(),
                                              [values[r] for r in rows])))
        answers = []
        for w, rows in shares:
            with self._alive(w):
                answers.append((rows, self.conns[w].recv()))
        return answers

    @contextlib.contextmanager
    def _alive(self, w: int):
        """A broken pipe to worker ``w`` becomes one line that says it stopped."""
        try:
            yield
        except (EOFError, OSError):
            code = self.processes[w].exitcode
            raise RuntimeError(f"game worker {w} of {self.workers} stopped (exit code {code}); its error "
                               "is printed above") from None

    def reset(self, copies: Sequence[int], seeds: Sequence[int]) -> tuple[list[np.ndarray], list[dict]]:
        frames, infos = [None] * len(copies), [None] * len(copies)
        for rows, (share_frames, share_infos) in self._call("reset", copies, list(seeds)):
            for k, r in enumerate(rows):
                frames[r], infos[r] = share_frames[k], share_infos[k]
        return frames, infos

    def step(self, copies: Sequence[int], actions: Sequence[int]) -> Step:
        n = len(copies)
        out = Step([None] * n, np.zeros(n), np.zeros(n, dtype=bool), np.zeros(n, dtype=bool), [None] * n)
        for rows, share in self._call("step", copies, list(actions)):
            out.rewards[rows], out.terminated[rows], out.truncated[rows] = (share.rewards, share.terminated,
                                                                           share.truncated)
            for k, r in enumerate(rows):
                out.frames[r], out.infos[r] = share.frames[k], share.infos[k]
        self.steps += n
        return out

    def close(self) -> None:
        for conn in self.conns:
            with contextlib.suppress(OSError):  # a worker that stopped already
                conn.send(("close", (None, None)))
        for process in self.processes:
            process.join(timeout=10)
            if process.is_alive():
                process.terminate()
        self.conns, self.processes = [], []
