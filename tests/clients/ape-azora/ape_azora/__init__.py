"""ape provider for ``azora dev``: ape's ``node`` provider plus the dev helpers the chain answers
(anvil's methods), so ``set_balance``, ``chain.mine``, impersonation and snapshots work.

Configure a custom network with ``default_provider: azora`` and its URI under ``azora:``::

    networks:
      custom:
        - name: azora-dev
          chain_id: 1337
          ecosystem: ethereum
          base_ecosystem_plugin: ethereum
          default_provider: azora
    azora:
      ethereum:
        azora-dev:
          uri: http://127.0.0.1:8545
"""
from ape import plugins

NETWORKS = ("azora-dev",)     # the custom network name the docs and tests use


@plugins.register(plugins.Config)
def config_class():
    from ape_node.provider import EthereumNodeConfig

    return EthereumNodeConfig


@plugins.register(plugins.ProviderPlugin)
def providers():
    from ape_azora.provider import AzoraDevProvider

    for network in NETWORKS:
        yield "ethereum", network, AzoraDevProvider
