/**
 * containerd's Snapshots service (containerd.services.snapshots.v1, api/services/snapshots/v1/
 * snapshots.proto) and the gRPC health service, as protobufjs JSON descriptors: the messages
 * and fields by number, written here from the spec rather than loaded from .proto files, so the
 * bundle needs no file beside it. containerd.types.Mount is api/types/mount.proto's.
 */
const map = (value: string, id: number) => ({ keyType: 'string', type: value, id });
const str = (id: number) => ({ type: 'string', id });

export const SNAPSHOTS_SERVICE = 'containerd.services.snapshots.v1.Snapshots';
export const HEALTH_SERVICE = 'grpc.health.v1.Health';

export const descriptor = {
  nested: {
    google: {
      nested: {
        protobuf: {
          nested: {
            Empty: { fields: {} },
            Timestamp: { fields: { seconds: { type: 'int64', id: 1 }, nanos: { type: 'int32', id: 2 } } },
            FieldMask: { fields: { paths: { rule: 'repeated', type: 'string', id: 1 } } },
          },
        },
      },
    },
    grpc: {
      nested: {
        health: {
          nested: {
            v1: {
              nested: {
                HealthCheckRequest: { fields: { service: str(1) } },
                HealthCheckResponse: {
                  fields: { status: { type: 'ServingStatus', id: 1 } },
                  nested: { ServingStatus: { values: { UNKNOWN: 0, SERVING: 1, NOT_SERVING: 2, SERVICE_UNKNOWN: 3 } } },
                },
                Health: {
                  methods: { Check: { requestType: 'HealthCheckRequest', responseType: 'HealthCheckResponse' } },
                },
              },
            },
          },
        },
      },
    },
    containerd: {
      nested: {
        types: {
          nested: {
            Mount: { fields: { type: str(1), source: str(2), target: str(3), options: { rule: 'repeated', type: 'string', id: 4 } } },
          },
        },
        services: {
          nested: {
            snapshots: {
              nested: {
                v1: {
                  nested: {
                    Snapshots: {
                      methods: {
                        Prepare: { requestType: 'PrepareSnapshotRequest', responseType: 'PrepareSnapshotResponse' },
                        View: { requestType: 'ViewSnapshotRequest', responseType: 'ViewSnapshotResponse' },
                        Mounts: { requestType: 'MountsRequest', responseType: 'MountsResponse' },
                        Commit: { requestType: 'CommitSnapshotRequest', responseType: 'google.protobuf.Empty' },
                        Remove: { requestType: 'RemoveSnapshotRequest', responseType: 'google.protobuf.Empty' },
                        Stat: { requestType: 'StatSnapshotRequest', responseType: 'StatSnapshotResponse' },
                        Update: { requestType: 'UpdateSnapshotRequest', responseType: 'UpdateSnapshotResponse' },
                        List: { requestType: 'ListSnapshotsRequest', responseType: 'ListSnapshotsResponse', responseStream: true },
                        Usage: { requestType: 'UsageRequest', responseType: 'UsageResponse' },
                        Cleanup: { requestType: 'CleanupRequest', responseType: 'google.protobuf.Empty' },
                      },
                    },
                    PrepareSnapshotRequest: { fields: { snapshotter: str(1), key: str(2), parent: str(3), labels: map('string', 4) } },
                    PrepareSnapshotResponse: { fields: { mounts: { rule: 'repeated', type: 'containerd.types.Mount', id: 1 } } },
                    ViewSnapshotRequest: { fields: { snapshotter: str(1), key: str(2), parent: str(3), labels: map('string', 4) } },
                    ViewSnapshotResponse: { fields: { mounts: { rule: 'repeated', type: 'containerd.types.Mount', id: 1 } } },
                    MountsRequest: { fields: { snapshotter: str(1), key: str(2) } },
                    MountsResponse: { fields: { mounts: { rule: 'repeated', type: 'containerd.types.Mount', id: 1 } } },
                    RemoveSnapshotRequest: { fields: { snapshotter: str(1), key: str(2) } },
                    CommitSnapshotRequest: { fields: { snapshotter: str(1), name: str(2), key: str(3), labels: map('string', 4) } },
                    StatSnapshotRequest: { fields: { snapshotter: str(1), key: str(2) } },
                    Kind: { values: { UNKNOWN: 0, VIEW: 1, ACTIVE: 2, COMMITTED: 3 } },
                    Info: {
                      fields: {
                        name: str(1),
                        parent: str(2),
                        kind: { type: 'Kind', id: 3 },
                        created_at: { type: 'google.protobuf.Timestamp', id: 4 },
                        updated_at: { type: 'google.protobuf.Timestamp', id: 5 },
                        labels: map('string', 6),
                      },
                    },
                    StatSnapshotResponse: { fields: { info: { type: 'Info', id: 1 } } },
                    UpdateSnapshotRequest: { fields: { snapshotter: str(1), info: { type: 'Info', id: 2 }, update_mask: { type: 'google.protobuf.FieldMask', id: 3 } } },
                    UpdateSnapshotResponse: { fields: { info: { type: 'Info', id: 1 } } },
                    ListSnapshotsRequest: { fields: { snapshotter: str(1), filters: { rule: 'repeated', type: 'string', id: 2 } } },
                    ListSnapshotsResponse: { fields: { info: { rule: 'repeated', type: 'Info', id: 1 } } },
                    UsageRequest: { fields: { snapshotter: str(1), key: str(2) } },
                    UsageResponse: { fields: { size: { type: 'int64', id: 1 }, inodes: { type: 'int64', id: 2 } } },
                    CleanupRequest: { fields: { snapshotter: str(1) } },
                  },
                },
              },
            },
          },
        },
      },
    },
  },
};
