"""Records gymnasium trajectories the Swift environments must reproduce step for step:
    pip install gymnasium==1.4.0 numpy && python record_gymnasium.py > trajectories.json
Each episode: the env id, the reset seed, the actions taken (a fixed controller with noise from
its own generator, so episodes both end early and reach the time limit), and what each step
returned. Also the first draws of numpy's PCG64 for a few seeds (gymnasium seeds with it)."""
import json
import gymnasium as gym
import numpy as np


def cartpole_actions(obs, rng):
    steer = 1 if obs[2] + 0.5 * obs[3] > 0 else 0
    return steer if rng.random() < 0.9 else 1 - steer


def record(env_id, seed, policy, noise_seed):
    env = gym.make(env_id)
    rng = np.random.default_rng(noise_seed)
    obs, _ = env.reset(seed=seed)
    episode = {"env": env_id, "seed": seed, "reset": obs.tolist(), "actions": [], "observations": [],
               "rewards": [], "terminated": [], "truncated": []}
    while True:
        action = policy(obs, rng)
        obs, reward, terminated, truncated, _ = env.step(action)
        episode["actions"].append(action if isinstance(action, int) else [float(a) for a in action])
        episode["observations"].append(obs.tolist())
        episode["rewards"].append(float(reward))
        episode["terminated"].append(bool(terminated))
        episode["truncated"].append(bool(truncated))
        if terminated or truncated:
            return episode


def pendulum_actions(obs, rng):
    return np.array([float(np.clip(-2.0 * obs[1] - 0.5 * obs[2] + rng.normal(), -3, 3))], dtype=np.float32)


episodes = [record("CartPole-v1", seed, cartpole_actions, 100 + seed) for seed in (0, 1, 42, 12345)]
episodes += [record("CartPole-v1", seed, lambda obs, rng: int(rng.integers(2)), seed) for seed in (7, 2**40 + 3)]
episodes += [record("Pendulum-v1", seed, pendulum_actions, 200 + seed) for seed in (0, 3)]
draws = {str(seed): [int(x) for x in np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed))).integers(0, 2**64, size=4, dtype=np.uint64)]
         for seed in (0, 1, 42, 2**40 + 3)}
print(json.dumps({"gymnasium": gym.__version__, "numpy": np.__version__, "episodes": episodes, "pcg64_uint64": draws}))
