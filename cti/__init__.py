"""CTI bridge: AMI connection, call and agent state, screen pops, agent actions."""
