export {
  Shipcast,
  type ShipcastConfigInput,
  type ShipcastFunctionName,
  type ShipcastProps,
} from './shipcast.ts';
export { ShipcastStack, type ShipcastStackProps } from './shipcast-stack.ts';
