"""Value-based agents: NFQ and the DQN family, feed-forward and recurrent."""
