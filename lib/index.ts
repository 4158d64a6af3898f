export { METRIC_NAMESPACE, type QueueAgeAlarmThresholds } from './monitoring.ts';
export {
  Shipcast,
  type ShipcastConfigInput,
  type ShipcastFunctionName,
  type ShipcastProps,
  ShipcastPropsError,
} from './shipcast.ts';
export {
  ShipcastMemberAccount,
  type ShipcastMemberAccountProps,
  ShipcastMemberPropsError,
  ShipcastMemberStack,
  type ShipcastMemberStackProps,
} from './shipcast-member.ts';
export { ShipcastStack, type ShipcastStackProps } from './shipcast-stack.ts';
