"""Running ferstream past one host: replicated Redis under Sentinel, hosts in network
namespaces, and the scenarios that the tests check and ``ferstream bench-scale`` times."""
