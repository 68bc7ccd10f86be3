"""node/rpc"""
