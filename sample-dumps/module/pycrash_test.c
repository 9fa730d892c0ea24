// SPDX-License-Identifier: GPL-2.0
/*
 * pycrash_test: plants known ground truth in a kernel for pycrash's sample dumps.
 *
 *  - pycrash_test_value   u64 global with a known value
 *  - pycrash_test_string  char array global with a known string
 *  - pycrash_items        list_head list of 5 struct pycrash_item (kmalloc'd),
 *                         the same items also in the rbtree pycrash_tree (keyed by id)
 *  - kthread "pycrash_sleeper": sleeps (TASK_INTERRUPTIBLE) in pycrash_sleeper_wait()
 *  - kthread "pycrash_dstate":  sleeps (TASK_UNINTERRUPTIBLE) in pycrash_dstate_wait()
 *  - kthread "pycrash_oops":    bound to the last online CPU, waits in pycrash_oops_wait();
 *                               writing 1 to /sys/module/pycrash_test/parameters/oops makes
 *                               it call pycrash_do_oops(), which dereferences NULL.
 */
#include <linux/module.h>
#include <linux/kernel.h>
#include <linux/kthread.h>
#include <linux/list.h>
#include <linux/rbtree.h>
#include <linux/slab.h>
#include <linux/wait.h>
#include <linux/completion.h>
#include <linux/sched.h>
#include <linux/cpumask.h>
#include <linux/string.h>

struct pycrash_item {
	int id;
	char name[16];
	struct list_head node;
	struct rb_node rb;
	u64 value;
};

u64 pycrash_test_value = 0xdeadbeefcafef00dULL;
char pycrash_test_string[64] = "pycrash test string: the quick brown fox";
LIST_HEAD(pycrash_items);
struct rb_root pycrash_tree = RB_ROOT;
/* counters bumped after each sleep so the wait functions are not tail calls */
unsigned long pycrash_sleeper_wakeups;
unsigned long pycrash_dstate_wakeups;
unsigned long pycrash_oops_wakeups;
/* the oops dereferences this (always NULL) pointer */
struct pycrash_item *pycrash_null_item;

struct task_struct *pycrash_sleeper_task;
struct task_struct *pycrash_dstate_task;
struct task_struct *pycrash_oops_task;

static DECLARE_WAIT_QUEUE_HEAD(pycrash_wq);
static DECLARE_COMPLETION(pycrash_dstate_done);
static int pycrash_oops_requested;

static const char *const pycrash_names[5] = { "alpha", "bravo", "charlie", "delta", "echo" };
/* rbtree insertion order (list order is by id: 1..5) */
static const int pycrash_tree_order[5] = { 3, 1, 4, 5, 2 };

noinline void pycrash_sleeper_wait(void)
{
	wait_event_interruptible(pycrash_wq, kthread_should_stop());
	WRITE_ONCE(pycrash_sleeper_wakeups, pycrash_sleeper_wakeups + 1);
}

static int pycrash_sleeper_fn(void *unused)
{
	while (!kthread_should_stop())
		pycrash_sleeper_wait();
	return 0;
}

noinline void pycrash_dstate_wait(void)
{
	wait_for_completion(&pycrash_dstate_done);
	WRITE_ONCE(pycrash_dstate_wakeups, pycrash_dstate_wakeups + 1);
}

static int pycrash_dstate_fn(void *unused)
{
	while (!kthread_should_stop())
		pycrash_dstate_wait();
	return 0;
}

noinline void pycrash_do_oops(void)
{
	struct pycrash_item *item = READ_ONCE(pycrash_null_item);

	pr_emerg("pycrash_test: oopsing on cpu %d\n", raw_smp_processor_id());
	/* NULL + offsetof(struct pycrash_item, value) */
	WRITE_ONCE(item->value, 0x0badc0deULL);
	pr_emerg("pycrash_test: survived the oops?\n");
}

noinline void pycrash_oops_wait(void)
{
	wait_event_interruptible(pycrash_wq,
				 READ_ONCE(pycrash_oops_requested) || kthread_should_stop());
	WRITE_ONCE(pycrash_oops_wakeups, pycrash_oops_wakeups + 1);
}

static int pycrash_oops_fn(void *unused)
{
	while (!kthread_should_stop()) {
		pycrash_oops_wait();
		if (READ_ONCE(pycrash_oops_requested))
			pycrash_do_oops();
	}
	return 0;
}

static int pycrash_oops_set(const char *val, const struct kernel_param *kp)
{
	int ret = param_set_int(val, kp);

	if (ret == 0 && pycrash_oops_requested)
		wake_up_all(&pycrash_wq);
	return ret;
}

static const struct kernel_param_ops pycrash_oops_ops = {
	.set = pycrash_oops_set,
	.get = param_get_int,
};
module_param_cb(oops, &pycrash_oops_ops, &pycrash_oops_requested, 0644);
MODULE_PARM_DESC(oops, "write 1 to make the pycrash_oops kthread dereference NULL");

static void pycrash_tree_insert(struct pycrash_item *item)
{
	struct rb_node **link = &pycrash_tree.rb_node, *parent = NULL;

	while (*link) {
		struct pycrash_item *cur = rb_entry(*link, struct pycrash_item, rb);

		parent = *link;
		link = item->id < cur->id ? &(*link)->rb_left : &(*link)->rb_right;
	}
	rb_link_node(&item->rb, parent, link);
	rb_insert_color(&item->rb, &pycrash_tree);
}

static struct pycrash_item *pycrash_items_by_id[5];

static void pycrash_free_items(void)
{
	struct pycrash_item *item, *tmp;

	list_for_each_entry_safe(item, tmp, &pycrash_items, node) {
		list_del(&item->node);
		rb_erase(&item->rb, &pycrash_tree);
		kfree(item);
	}
}

static int __init pycrash_test_init(void)
{
	int i;

	for (i = 0; i < 5; i++) {
		struct pycrash_item *item = kzalloc(sizeof(*item), GFP_KERNEL);

		if (!item)
			goto nomem;
		item->id = i + 1;
		strscpy(item->name, pycrash_names[i], sizeof(item->name));
		item->value = 0x1111111111111111ULL * (i + 1);
		list_add_tail(&item->node, &pycrash_items);
		pycrash_items_by_id[i] = item;
	}
	for (i = 0; i < 5; i++)
		pycrash_tree_insert(pycrash_items_by_id[pycrash_tree_order[i] - 1]);
	for (i = 0; i < 5; i++)
		pr_info("pycrash_test: item id=%d name=%s value=%#llx at %px\n",
			pycrash_items_by_id[i]->id, pycrash_items_by_id[i]->name,
			pycrash_items_by_id[i]->value, pycrash_items_by_id[i]);

	pycrash_sleeper_task = kthread_run(pycrash_sleeper_fn, NULL, "pycrash_sleeper");
	pycrash_dstate_task = kthread_run(pycrash_dstate_fn, NULL, "pycrash_dstate");
	pycrash_oops_task = kthread_create(pycrash_oops_fn, NULL, "pycrash_oops");
	if (IS_ERR(pycrash_sleeper_task) || IS_ERR(pycrash_dstate_task) || IS_ERR(pycrash_oops_task)) {
		pr_err("pycrash_test: kthread creation failed\n");
		return -ENOMEM; /* leaks on purpose: test-only module */
	}
	kthread_bind(pycrash_oops_task, num_online_cpus() - 1);
	wake_up_process(pycrash_oops_task);
	pr_info("pycrash_test: loaded, value=%#llx sleeper=%d dstate=%d oops=%d (cpu %u)\n",
		pycrash_test_value, task_pid_nr(pycrash_sleeper_task),
		task_pid_nr(pycrash_dstate_task), task_pid_nr(pycrash_oops_task),
		num_online_cpus() - 1);
	return 0;
nomem:
	pycrash_free_items();
	return -ENOMEM;
}

static void __exit pycrash_test_exit(void)
{
	complete_all(&pycrash_dstate_done);
	kthread_stop(pycrash_sleeper_task);
	kthread_stop(pycrash_dstate_task);
	kthread_stop(pycrash_oops_task);
	pycrash_free_items();
}

module_init(pycrash_test_init);
module_exit(pycrash_test_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("pycrash sample-dump ground truth");
