total 4232
-rw-------    1 0        0          4306515 Nov 23 13:11 vmcore.split1
-rw-------    1 0        0           165008 Nov 23 13:11 vmcore.split2
