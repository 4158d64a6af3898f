/** How an event bus is named, for the EventBridge target and its config schema alike (this module imports nothing). */

/** An event bus name: EventBridge's pattern `[/\.\-_A-Za-z0-9]+`, up to 256 characters. */
export const EVENT_BUS_NAME = /^[/.\-_A-Za-z0-9]{1,256}$/;

/** An event bus ARN, whose region and account may differ from the dispatcher's. */
export const EVENT_BUS_ARN =
  /^arn:aws[a-z-]*:events:([a-z0-9-]+):(\d{12}):event-bus\/([/.\-_A-Za-z0-9]{1,256})$/;
