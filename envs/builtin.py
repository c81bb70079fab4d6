"""Built-in pixel games in numpy: small enough for a CPU, with their true objects every step.

Each game draws flat-coloured rectangles on a plain background, so an unsupervised detector can
separate the sprites, and reports them in ``info["objects"]`` as dicts with ``type`` (an index
into ``OBJECT_TYPES``), centre ``x``, ``y``, ``width``, ``height`` and true velocity ``vx``, ``vy``
in pixels per agent step. Variants (speeds, sizes, colours, opponent skill) are constructor
keyword arguments, chosen in a config's ``env.kwargs``, for transfer tests.
"""

from __future__ import annotations

from dataclasses import dataclass

import gymnasium as gym
import numpy as np

Colour = tuple[int, int, int]


@dataclass
class Sprite:
    """A rectangle with its centre, size and velocity in pixels."""

    type: int
    x: float
    y: float
    width: int
    height: int
    vx: float = 0.0
    vy: float = 0.0

    def as_object(self) -> dict:
        return {
            "type": self.type,
            "x": float(self.x),
            "y": float(self.y),
            "width": self.width,
            "height": self.height,
            "vx": float(self.vx),
            "vy": float(self.vy),
        }


class PixelGame(gym.Env):
    """Common drawing, bookkeeping and seeding of the built-in games."""

    metadata = {"render_modes": ["rgb_array"], "render_fps": 30}
    OBJECT_TYPES: tuple[str, ...] = ()
    ACTIONS: tuple[str, ...] = ("NOOP", "UP", "DOWN")

    def __init__(self, size: int, background: Colour, colours: dict[int, Colour],
                 render_mode: str | None = None):
        self.size = size
        self.background = np.array(background, dtype=np.uint8)
        self.colours = {t: np.array(c, dtype=np.uint8) for t, c in colours.items()}
        self.render_mode = render_mode
        self.observation_space = gym.spaces.Box(0, 255, (size, size, 3), np.uint8)
        self.action_space = gym.spaces.Discrete(len(self.ACTIONS))
        self.steps = 0

    def get_action_meanings(self) -> list[str]:
        return list(self.ACTIONS)

    def sprites(self) -> list[Sprite]:
        raise NotImplementedError

    def render(self) -> np.ndarray:
        frame = np.empty((self.size, self.size, 3), dtype=np.uint8)
        frame[:] = self.background
        for sprite in self.sprites():
            x0, y0, x1, y1 = self._box(sprite)
            frame[y0:y1, x0:x1] = self.colours[sprite.type]
        return frame

    def _box(self, s: Sprite) -> tuple[int, int, int, int]:
        x0 = int(round(s.x - s.width / 2))
        y0 = int(round(s.y - s.height / 2))
        return max(x0, 0), max(y0, 0), min(x0 + s.width, self.size), min(y0 + s.height, self.size)

    def _info(self) -> dict:
        visible = [s for s in self.sprites() if self._visible(s)]
        return {"objects": [s.as_object() for s in visible]}

    def _visible(self, s: Sprite) -> bool:
        x0, y0, x1, y1 = self._box(s)
        return x1 > x0 and y1 > y0


class BuiltinPong(PixelGame):
    """Pong on 64x64: the agent's paddle on the right, a scripted opponent on the left.

    A point is +1 when the opponent misses and -1 when the agent misses; the episode ends after
    ``points`` points, so the maximum return is ``points``. The opponent tracks the ball but, with
    probability ``1 - opponent_skill`` per rally shot, aims off and lets it through; where the ball
    meets the agent's paddle sets the return angle, as in Pong. Each serve waits ``serve_delay``
    steps with the ball still at the centre, so a paddle that follows the ball can reach every serve.
    """

    OBJECT_TYPES = ("agent", "opponent", "ball")

    def __init__(
        self,
        points: int = 5,
        ball_speed: float = 2.0,
        ball_speedup: float = 1.05,
        max_ball_speed: float = 3.0,
        ball_size: int = 3,
        paddle_height: int = 10,
        paddle_speed: float = 3.0,
        opponent_speed: float = 2.0,
        opponent_skill: float = 0.5,
        serve_delay: int = 10,
        size: int = 64,
        agent_colour: Colour = (80, 220, 80),
        opponent_colour: Colour = (235, 140, 40),
        ball_colour: Colour = (245, 245, 245),
        background: Colour = (20, 24, 60),
        max_steps: int = 2000,
        render_mode: str | None = None,
    ):
        super().__init__(size, background, {0: agent_colour, 1: opponent_colour, 2: ball_colour},
                         render_mode)
        self.points = points
        self.ball_speed = ball_speed
        self.ball_speedup = ball_speedup
        self.max_ball_speed = max_ball_speed
        self.paddle_speed = paddle_speed
        self.opponent_speed = opponent_speed
        self.opponent_skill = opponent_skill
        self.serve_delay = serve_delay
        self.max_steps = max_steps
        self.agent = Sprite(0, size - 5, size / 2, 2, paddle_height)
        self.opponent = Sprite(1, 4, size / 2, 2, paddle_height)
        self.ball = Sprite(2, size / 2, size / 2, ball_size, ball_size)
        self.played = 0
        self.opponent_aim = 0.0
        self.wait = 0

    def sprites(self) -> list[Sprite]:
        return [self.agent, self.opponent, self.ball]

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        self.steps = 0
        self.played = 0
        self.agent.y = self.opponent.y = self.size / 2
        self._serve()
        return self.render(), self._info()

    def _serve(self) -> None:
        rng = self.np_random
        self.ball.x, self.ball.y = self.size / 2, rng.uniform(0.3, 0.7) * self.size
        self.ball.vx = self.ball_speed * (1 if rng.random() < 0.5 else -1)
        self.ball.vy = rng.uniform(-0.75, 0.75) * self.ball_speed
        self.wait = self.serve_delay
        self._choose_opponent_aim()

    def _info(self) -> dict:
        info = super()._info()
        if self.wait > 0:  # the ball waits to be served: its true velocity is zero
            for obj in info["objects"]:
                if obj["type"] == self.ball.type:
                    obj["vx"] = obj["vy"] = 0.0
        return info

    def _choose_opponent_aim(self) -> None:
        """Offset from the ball that the opponent aims at: zero to return it, past the edge to miss."""
        miss = self.np_random.random() > self.opponent_skill
        reach = self.opponent.height / 2 + self.ball.height
        side = 1 if self.np_random.random() < 0.5 else -1
        self.opponent_aim = side * (reach + 2) if miss else self.np_random.uniform(-0.3, 0.3) * reach

    def step(self, action: int):
        self.steps += 1
        move = (0.0, -self.paddle_speed, self.paddle_speed)[int(action)]
        self._move_paddle(self.agent, move)
        target = self.ball.y + self.opponent_aim if self.ball.vx < 0 else self.size / 2
        delta = np.clip(target - self.opponent.y, -self.opponent_speed, self.opponent_speed)
        self._move_paddle(self.opponent, float(delta))
        reward = self._move_ball()
        terminated = self.played >= self.points
        truncated = self.steps >= self.max_steps
        return self.render(), reward, terminated, truncated, self._info()

    def _move_paddle(self, paddle: Sprite, dy: float) -> None:
        half = paddle.height / 2
        new_y = float(np.clip(paddle.y + dy, half, self.size - half))
        paddle.vy = new_y - paddle.y
        paddle.y = new_y

    def _move_ball(self) -> float:
        ball, half = self.ball, self.ball.height / 2
        if self.wait > 0:
            self.wait -= 1
            return 0.0
        ball.x += ball.vx
        ball.y += ball.vy
        if ball.y < half or ball.y > self.size - half:
            ball.vy = -ball.vy
            ball.y = float(np.clip(ball.y, half, self.size - half))
        for paddle, direction in ((self.agent, 1), (self.opponent, -1)):
            if self._hits(paddle, direction):
                offset = (ball.y - paddle.y) / (paddle.height / 2 + half)
                speed = min(abs(ball.vx) * self.ball_speedup, self.max_ball_speed)
                ball.vx = -direction * speed
                ball.vy = float(np.clip(offset, -1, 1)) * speed
                ball.x = paddle.x - direction * (paddle.width / 2 + half)
                if paddle is self.agent:
                    self._choose_opponent_aim()
        if ball.x < -half:
            return self._point(+1.0)
        if ball.x > self.size + half:
            return self._point(-1.0)
        return 0.0

    def _hits(self, paddle: Sprite, direction: int) -> bool:
        ball, half = self.ball, self.ball.width / 2
        moving_towards = ball.vx * direction > 0
        front = paddle.x - direction * paddle.width / 2
        crossed = (ball.x + direction * half - front) * direction >= 0
        behind = (ball.x - paddle.x) * direction > paddle.width / 2 + half
        overlap = abs(ball.y - paddle.y) <= paddle.height / 2 + ball.height / 2
        return moving_towards and crossed and not behind and overlap

    def _point(self, reward: float) -> float:
        self.played += 1
        self._serve()
        return reward


class BuiltinFreeway(PixelGame):
    """A crossing game on 64x64: the agent crosses lanes of cars (several objects of one type).

    +1 for each crossing; a car pushes the agent back ``knockback`` pixels. The episode lasts
    ``max_steps`` steps, so the maximum return is about ``max_steps`` over the fastest crossing time.
    """

    OBJECT_TYPES = ("chicken", "car")

    def __init__(
        self,
        lanes: int = 6,
        car_speed: float = 1.5,
        car_width: int = 7,
        agent_speed: float = 2.0,
        knockback: float = 6.0,
        size: int = 64,
        agent_colour: Colour = (250, 220, 60),
        car_colour: Colour = (220, 60, 60),
        background: Colour = (60, 60, 70),
        max_steps: int = 400,
        render_mode: str | None = None,
    ):
        super().__init__(size, background, {0: agent_colour, 1: car_colour}, render_mode)
        self.lanes = lanes
        self.car_speed = car_speed
        self.agent_speed = agent_speed
        self.knockback = knockback
        self.max_steps = max_steps
        self.top, self.bottom = 6.0, size - 6.0
        lane_gap = (self.bottom - self.top) / (lanes + 1)
        self.cars = [Sprite(1, 0, self.top + lane_gap * (i + 1), car_width, 4) for i in range(lanes)]
        self.chicken = Sprite(0, size / 2, self.bottom, 3, 3)

    def sprites(self) -> list[Sprite]:
        return [*self.cars, self.chicken]

    @property
    def max_return(self) -> float:
        return self.max_steps / ((self.bottom - self.top) / self.agent_speed + 1)

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        self.steps = 0
        rng = self.np_random
        for i, car in enumerate(self.cars):
            direction = 1 if i % 2 == 0 else -1
            car.vx = direction * self.car_speed * rng.uniform(0.6, 1.4)
            car.x = rng.uniform(0, self.size)
        self.chicken.y = self.bottom
        return self.render(), self._info()

    def step(self, action: int):
        self.steps += 1
        for car in self.cars:
            car.x = (car.x + car.vx) % (self.size + car.width)
        old_y = self.chicken.y
        dy = (0.0, -self.agent_speed, self.agent_speed)[int(action)]
        self.chicken.y = float(np.clip(self.chicken.y + dy, self.top, self.bottom))
        reward = 0.0
        if any(self._collides(car) for car in self.cars):
            self.chicken.y = min(self.chicken.y + self.knockback, self.bottom)
        if self.chicken.y <= self.top:
            reward = 1.0
            self.chicken.y = self.bottom
        self.chicken.vy = self.chicken.y - old_y
        truncated = self.steps >= self.max_steps
        return self.render(), reward, False, truncated, self._info()

    def _collides(self, car: Sprite) -> bool:
        c = self.chicken
        return abs(c.x - car.x) < (c.width + car.width) / 2 and abs(c.y - car.y) < (c.height + car.height) / 2


def random_play(env: PixelGame, steps: int, seed: int = 0) -> tuple[np.ndarray, list[list[dict]]]:
    """Frames and true objects of ``steps`` uniformly random actions: detector data without a teacher."""
    env.reset(seed=seed)
    rng = np.random.default_rng(seed)
    frames, objects = [], []
    for _ in range(steps):
        frame, _, terminated, truncated, info = env.step(int(rng.integers(env.action_space.n)))
        frames.append(frame)
        objects.append(info["objects"])
        if terminated or truncated:
            env.reset()
    return np.stack(frames), objects
