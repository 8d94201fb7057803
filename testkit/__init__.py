"""The test kit: what the test tiers and the benchmarks both drive, in one place.

Each module owns one part of the local test ground, and none holds a test:

- ``paths``: where the checkout's scripts, tool binaries and examples are;
- ``commands``: running a command, failing with its output when it fails;
- ``env_file``: the ``KEY=VALUE`` files the cluster scripts write;
- ``kubectl``: the built kubectl against a given cluster;
- ``control_plane``: ``cluster/control-plane.sh``'s etcd, kube-apiserver and
  kube-controller-manager (the integration tier and ``make bench``);
- ``crds``: this project's CRDs installed on a cluster;
- ``operator_process``: the operator as a user runs it, in its own process;
- ``kubelet_standin``: pod statuses written as a kubelet would (no node);
- ``node``: the e2e tier's real node (``cluster/cluster.sh``), and the operator
  deployed on it;
- ``examples``: examples/ copied and pointed at the node.

It lives beside ``tests/`` and ``bench/`` rather than in the operator's
package: it is never shipped in the wheel or the image.
"""
