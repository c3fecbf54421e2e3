"""Layer 2: Q-learning in repeated pricing games: the compiled kernels (one learning step, one
epsilon-greedy choice, one session), the many-session engine and the impulse response
(:mod:`sim.learning.qlearning`)."""
